// The reader of shardgate's stdout and stderr goes away (the test runner or a supervisor that
// started it died, `shardgate start | head`): every later write fails with EPIPE. Found when
// test fleets outlived their timed-out test file: each instance spun at full CPU for good,
// ignoring SIGTERM. The EPIPE surfaced as an uncaught exception whose handler wrote the fatal
// line to the same closed outputs, raising the next one at once, so the exit it had scheduled
// never got to run. Now the first fatal error is the only one handled: the process exits.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, test } from "node:test";
import { reapOnExit } from "../support/child-reaper.js";
import { oneMemberConfig } from "../support/minimal-config.js";
import { freePorts } from "../support/ports.js";
import { shardgateArgv, TempConfig } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

/** The most the exit may take once the outputs are closed and SIGTERM sent: drain 1 s + grace. */
const EXIT_BOUND_MS = 20_000;
const configs: TempConfig[] = [];
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const c of configs) c.remove();
});

test("stdout and stderr closed by their reader: the process exits, at the latest on SIGTERM", {
  timeout: 180_000,
}, async () => {
  const [http, admin] = await freePorts(2);
  const config = new TempConfig(oneMemberConfig(http, admin));
  configs.push(config);
  const argv = shardgateArgv(["start", "--config", config.path, "--drain-timeout", "1s"]);
  const child = reapOnExit(spawn(argv.command, argv.args, { stdio: ["ignore", "pipe", "pipe"] }));
  children.push(child);
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  await eventually(
    "the listening line",
    () => (out.includes('"msg":"listening"') ? true : undefined),
    90_000,
  );

  // The reader goes away; requests make the process write (access and error lines).
  child.stdout?.destroy();
  child.stderr?.destroy();
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`http://127.0.0.1:${http}/`, { headers: { "x-k": `k${i}` } }).catch(() => null);
    await r?.arrayBuffer();
  }
  const sent = performance.now();
  child.kill("SIGTERM");
  let bound: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    exited,
    new Promise<"hung">((resolve) => {
      bound = setTimeout(() => resolve("hung"), EXIT_BOUND_MS);
    }),
  ]);
  clearTimeout(bound);
  assert.notEqual(code, "hung", `no exit ${EXIT_BOUND_MS} ms after SIGTERM with its outputs closed`);
  console.log(`# exit code ${code}, ${Math.round(performance.now() - sent)} ms after SIGTERM`);
});
