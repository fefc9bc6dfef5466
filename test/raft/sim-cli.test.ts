// The raft:sim command line: runs seeds with a summary line last and a meaningful exit code,
// replays one seed as a readable trace, and rejects bad arguments. Runs the compiled CLI under
// dist/ (npm test) or the .ts source through tsx (fast loop).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

function runCli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const isTs = import.meta.url.endsWith(".ts");
  const cli = fileURLToPath(new URL(isTs ? "./sim-cli.ts" : "./sim-cli.js", import.meta.url));
  const argv = isTs ? ["--import", "tsx", cli, ...args] : [cli, ...args];
  const r = spawnSync(process.execPath, argv, { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("raft:sim runs seeds and prints the summary line last", () => {
  const r = runCli(["--seeds", "5", "--start", "11"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.match(
    lines[lines.length - 1],
    /^raft:sim PASS: 5 seeds from 11, 0 failed, \d+ entries committed, \d+ crashes \(\d+ inside a file operation/,
  );
});

test("raft:sim --replay prints a readable trace of one seed", () => {
  const r = runCli(["--replay", "3", "--ticks", "40"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /tick \| n1 \w+ t\d+ last=\d+ commit=\d+ applied=\d+/);
  assert.match(r.stdout, /deliver (preVote|vote|app|heartbeat)\w* n\d->n\d t\d+/);
  assert.match(r.stdout, /seed 3: ok committed=\d+/);
});

test("raft:sim --core runs the pure-core simulator", () => {
  const r = runCli(["--core", "--seeds", "3", "--start", "5"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(
    r.stdout.trim().split("\n").at(-1) ?? "",
    /^raft:sim PASS: 3 seeds from 5, 0 failed, \d+ entries committed, \d+ messages/,
  );
});

test("raft:sim rejects bad arguments with exit code 2", () => {
  for (const args of [["--seeds", "x"], ["--bogus"], ["--replay"]]) {
    const r = runCli(args);
    assert.equal(r.code, 2, `args ${args.join(" ")}`);
    assert.match(r.stderr, /raft:sim: /);
  }
});

test("raft:sim --storage runs the storage crash simulator and --replay shows one seed", () => {
  const r = runCli(["--storage", "--seeds", "4", "--start", "21"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.match(
    lines[lines.length - 1],
    /^raft:sim storage PASS: 4 seeds, 0 failed, \d+ crash recoveries checked/,
  );
  const one = runCli(["--storage", "--replay", "21"]);
  assert.equal(one.code, 0, one.stdout + one.stderr);
  assert.match(one.stdout, /raft:sim storage PASS: 1 seeds/);
});
