// A command whose output is its result, written where it cannot go. `shardgate ctl --json state
// > state.json` on a full disk exited 0 and left an empty file (console.log drops write errors),
// so a backup script went on as if it had the state; `ring simulate --json` the same. Both now
// say `cannot write the output to stdout: ENOSPC (no space left on device)` and exit 1. A reader
// that leaves early (`| head -1`, EPIPE) is still no failure: exit 0, nothing on stderr.
// /dev/full gives ENOSPC on every write. Real `shardgate start`, `ctl` and `ring` processes.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { reapOnExit } from "../support/child-reaper.js";
import { ONE_MEMBER_POOL } from "../support/minimal-config.js";
import {
  type RunningShardgate,
  shardgateArgv,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

let sg: RunningShardgate;
const dir = mkdtempSync(join(tmpdir(), "shardgate-output-"));

before(async () => {
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }\n${ONE_MEMBER_POOL}`);
});

after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `shardgate ARGS` with stdout on `stdoutPath` (opened for writing); exit code and stderr. */
function runTo(
  stdoutPath: string,
  args: readonly string[],
): Promise<{ code: number | null; stderr: string }> {
  const fd = openSync(stdoutPath, "w");
  const argv = shardgateArgv(args);
  const child = reapOnExit(spawn(argv.command, argv.args, { stdio: ["ignore", fd, "pipe"] }));
  closeSync(fd);
  return collect(child, args);
}

function collect(
  child: ReturnType<typeof spawn>,
  args: readonly string[],
): Promise<{ code: number | null; stderr: string }> {
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`shardgate ${args.join(" ")} did not exit within ${scaled(30_000)}ms\n${stderr}`));
    }, scaled(30_000));
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

const FULL = "/dev/full";

for (const [what, args] of [
  ["ctl --json state", () => ["ctl", "--admin", sg.adminUrl, "--json", "state"]],
  ["ctl status", () => ["ctl", "--admin", sg.adminUrl, "status"]],
  ["ring simulate --json", () => ["ring", "simulate", "--members", "5", "--keys", "1000", "--json"]],
] as const) {
  test(`${what} onto a full disk: exit 1, saying ENOSPC`, {
    skip: !existsSync(FULL) && `no ${FULL}`,
  }, async () => {
    const command = args()[0];
    const r = await runTo(FULL, args());
    assert.equal(r.code, 1, `exit ${r.code}\nstderr: ${r.stderr}`);
    assert.ok(
      r.stderr.includes(
        `shardgate ${command}: cannot write the output to stdout: ENOSPC (no space left on device)`,
      ),
      r.stderr,
    );
  });
}

test("ctl --json state into a file with room: exit 0, the whole state", async () => {
  const path = join(dir, "state.json");
  const r = await runTo(path, ["ctl", "--admin", sg.adminUrl, "--json", "state"]);
  assert.equal(r.code, 0, r.stderr);
  const state = JSON.parse(readFileSync(path, "utf8")) as { pools?: Record<string, unknown> };
  assert.ok(state.pools?.p !== undefined, "the state names pool p");
});

test("ring simulate into a reader that leaves after one line (EPIPE): exit 0, quiet", async () => {
  const args = ["ring", "simulate", "--members", "20000", "--keys", "1000"];
  const argv = shardgateArgv(args);
  const child = reapOnExit(spawn(argv.command, argv.args, { stdio: ["ignore", "pipe", "pipe"] }));
  // As `| head -1`: read the first chunk, then close the pipe with most of the table unread.
  child.stdout?.once("data", () => child.stdout?.destroy());
  const r = await collect(child, args);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
});
