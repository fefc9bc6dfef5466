// An operator redirects shardgate's stdout to a file on a disk that fills up. Tried from the
// outside with stdout on /dev/full (every write fails with ENOSPC): the process crashed at its
// first log line (an unhandled 'error' event from the log destination) and stopped serving.
// Now it drops the lines it cannot write, says so once on stderr, and keeps serving.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { oneMemberConfig } from "../support/minimal-config.js";
import { freePorts } from "../support/ports.js";
import { shardgateArgv } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-log-full-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("stdout on a full disk: shardgate keeps serving and says so on stderr", {
  skip: !existsSync("/dev/full"),
  timeout: 90_000,
}, async () => {
  const [http, admin] = await freePorts(2);
  const file = join(dir, "shardgate.yaml");
  writeFileSync(file, oneMemberConfig(http, admin));
  const full = openSync("/dev/full", "w");
  const argv = shardgateArgv(["start", "--config", file]);
  const child = spawn(argv.command, argv.args, { stdio: ["ignore", full, "pipe"] });
  closeSync(full);
  let stderr = "";
  let exited: number | null | undefined;
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    stderr += d;
  });
  child.on("exit", (code) => {
    exited = code;
  });
  try {
    const healthy = await eventually(
      "healthz answering and the stderr notice, or an exit",
      async () => {
        if (exited !== undefined) return `exited ${exited}`;
        try {
          const r = await fetch(`http://127.0.0.1:${admin}/healthz`);
          return r.status === 200 && stderr.includes("cannot write the log") ? "ok" : undefined;
        } catch {
          return undefined;
        }
      },
      45_000,
    );
    assert.equal(healthy, "ok", `shardgate must keep serving with its log on a full disk\n${stderr}`);
    // Requests (and their access lines, which cannot be written either) are answered.
    const r = await fetch(`http://127.0.0.1:${http}/`, { headers: { "x-k": "a" } });
    assert.equal(
      r.status >= 500 && r.status < 600,
      true,
      `an upstream error for a dead member, got ${r.status}`,
    );
    assert.equal(exited, undefined, stderr);
  } finally {
    child.kill("SIGKILL");
  }
});
