// An operator's log destination stops taking lines (a log shipper that stalls, a disk that
// fills) and then stops shardgate with SIGTERM. Tried from the outside, the process never
// exited: sonic-boom's synchronous final flush retried a failed write forever (ENOSPC), and a
// write(2) blocked on a full pipe parked a thread-pool thread that process.exit waits for.
// The exit must come within the drain deadline plus the exit grace, whatever the log does.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { after, test } from "node:test";
import { oneMemberConfig } from "../support/minimal-config.js";
import { freePorts } from "../support/ports.js";
import { shardgateArgv } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-log-exit-"));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** Requests sent to fill the log (access lines of ~300 bytes: well past a 64 KiB pipe buffer). */
const REQUESTS = 800;
/** --drain-timeout given to the process, and the most its exit may take after SIGTERM. */
const DRAIN_MS = 1_000;
const EXIT_BOUND_MS = 20_000;

async function startLoggingTo(
  stdout: number | Writable,
): Promise<{ child: ChildProcess; http: number; stderr: () => string }> {
  const [http, admin] = await freePorts(2);
  const file = join(dir, `shardgate-${http}.yaml`);
  writeFileSync(file, oneMemberConfig(http, admin));
  const argv = shardgateArgv(["start", "--config", file, "--drain-timeout", `${DRAIN_MS}ms`]);
  const child = spawn(argv.command, argv.args, { stdio: ["ignore", stdout, "pipe"] });
  children.push(child);
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    stderr += d;
  });
  const up = await eventually(
    "healthz answering, or an exit",
    async () => {
      if (child.exitCode !== null) return `exited ${child.exitCode}`;
      try {
        return (await fetch(`http://127.0.0.1:${admin}/healthz`)).status === 200 ? "ok" : undefined;
      } catch {
        return undefined;
      }
    },
    45_000,
  );
  assert.equal(up, "ok", stderr);
  return { child, http, stderr: () => stderr };
}

async function fillLogThenStop(p: {
  child: ChildProcess;
  http: number;
  stderr: () => string;
}): Promise<void> {
  for (let i = 0; i < REQUESTS; i++) {
    const r = await fetch(`http://127.0.0.1:${p.http}/`, { headers: { "x-k": `k${i}` } });
    await r.arrayBuffer();
  }
  const exited = new Promise<number | null>((resolve) => p.child.once("exit", (code) => resolve(code)));
  const sent = performance.now();
  p.child.kill("SIGTERM");
  let bound: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    exited,
    new Promise<"hung">((resolve) => (bound = setTimeout(() => resolve("hung"), EXIT_BOUND_MS))),
  ]);
  clearTimeout(bound);
  assert.notEqual(code, "hung", `no exit ${EXIT_BOUND_MS} ms after SIGTERM\n${p.stderr()}`);
  assert.equal(code, 0, p.stderr());
  console.log(`exit ${Math.round(performance.now() - sent)} ms after SIGTERM`);
}

test("stdout on a pipe nobody reads: SIGTERM still exits 0 within its deadline", {
  timeout: 120_000,
}, async () => {
  // `sleep` holds the pipe's read end open and never reads it.
  const sink = spawn("sleep", ["600"], { stdio: ["pipe", "ignore", "ignore"] });
  children.push(sink);
  try {
    const p = await startLoggingTo(sink.stdin as Writable);
    await fillLogThenStop(p);
  } finally {
    sink.kill("SIGKILL");
  }
});

test("stdout on a full disk: SIGTERM still exits 0 within its deadline", {
  skip: !existsSync("/dev/full"),
  timeout: 120_000,
}, async () => {
  const full = openSync("/dev/full", "w");
  try {
    const p = await startLoggingTo(full);
    await fillLogThenStop(p);
  } finally {
    closeSync(full);
  }
});
