// `shardgate validate` is what an operator runs before `start` (README, "Running shardgate"):
// a file it passes must be one `start` accepts, and a file `start` refuses must fail it, with
// the same flags and SHARDGATE_* variables. Each case here runs both as real processes and
// compares the verdicts: validate's exit code against whether start reached its "listening"
// line or exited 1. Found from the outside: validate passed a fleet file without cluster.id
// (start refused it), a listener certificate that is not PEM, a node id missing from
// cluster.peers, and it refused `--node-id` outright (exit 2).

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ONE_MEMBER_POOL } from "../support/minimal-config.js";
import { freePorts } from "../support/ports.js";
import { ShardgateChild, shardgateArgv, stopAll } from "../support/shardgate-process.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-validate-start-"));
after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const POOL = ONE_MEMBER_POOL;

interface Case {
  name: string;
  yaml: string;
  flags?: string[];
  env?: Record<string, string>;
  /** What both commands must conclude. */
  valid: boolean;
}

async function cases(): Promise<Case[]> {
  // One raft port a fleet file: the cases run side by side, and two that start must not collide.
  const raft = await freePorts(5);
  const notPem = join(dir, "not-pem.pem");
  writeFileSync(notPem, "this is not a certificate\n");
  const listen = "listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }\n";
  const fleetWithoutId = (data: string, port: number): string =>
    `${listen}cluster:\n  dataDir: ${join(dir, data)}\n  peers:\n    - { id: a, address: 127.0.0.1:${port} }\n${POOL}`;
  return [
    { name: "a plain file", yaml: listen + POOL, valid: true },
    {
      name: "a listener certificate that is not PEM",
      yaml: `listen:\n  http: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  tls: { cert: ${notPem}, key: ${notPem} }\n${POOL}`,
      valid: false,
    },
    { name: "a fleet file without cluster.id", yaml: fleetWithoutId("d1", raft[0]), valid: false },
    {
      name: "the same with --node-id a",
      yaml: fleetWithoutId("d2", raft[1]),
      flags: ["--node-id", "a"],
      valid: true,
    },
    {
      name: "the same with SHARDGATE_NODE_ID=a",
      yaml: fleetWithoutId("d3", raft[2]),
      env: { SHARDGATE_NODE_ID: "a" },
      valid: true,
    },
    {
      name: "--node-id naming no peer",
      yaml: fleetWithoutId("d4", raft[3]),
      flags: ["--node-id", "z"],
      valid: false,
    },
    {
      name: "SHARDGATE_BOOTSTRAP neither new nor join",
      yaml: `${listen}cluster:\n  id: a\n  dataDir: ${join(dir, "d5")}\n  peers:\n    - { id: a, address: 127.0.0.1:${raft[4]} }\n${POOL}`,
      env: { SHARDGATE_BOOTSTRAP: "maybe" },
      valid: false,
    },
  ];
}

/** Exit code of `shardgate validate --config FILE [flags]`. */
function validate(file: string, c: Case): Promise<{ code: number | null; out: string }> {
  const argv = shardgateArgv(["validate", "--config", file, ...(c.flags ?? [])]);
  return new Promise((resolve) => {
    execFile(
      argv.command,
      argv.args,
      { env: { ...process.env, ...c.env }, encoding: "utf8", timeout: 60_000 },
      (err, stdout, stderr) => {
        // A non-zero exit is an error with its code; a kill by the timeout has none (null).
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

/** True when `start` reached its listening line, false when it exited before. */
async function starts(file: string, c: Case): Promise<{ started: boolean; out: string }> {
  const proc = new ShardgateChild(["start", "--config", file, ...(c.flags ?? [])], { env: c.env });
  const outcome = await proc.waitFor(
    "the listening line or an exit",
    () =>
      proc.lines.some((l) => l.msg === "listening") ? true : proc.exit !== undefined ? false : undefined,
    60_000,
  );
  const out = proc.output();
  const exit = await proc.stop();
  if (!outcome) assert.equal(exit.code, 1, `a refused start exits 1\n${out}`);
  return { started: outcome, out };
}

/** Both commands on one case's file; their verdicts must agree with each other and with the case. */
async function check(c: Case): Promise<void> {
  const file = join(dir, `${c.name.replace(/[^a-z0-9]+/gi, "-")}.yaml`);
  writeFileSync(file, c.yaml);
  // validate first, as an operator does: start then makes the data dir validate looked at.
  const v = await validate(file, c);
  const s = await starts(file, c);
  assert.equal(
    v.code === 0,
    s.started,
    `${c.name}: validate (exit ${v.code}) and start disagree\n${v.out}\n${s.out}`,
  );
  assert.equal(v.code, c.valid ? 0 : 1, `${c.name}: validate's exit code\n${v.out}`);
  assert.equal(s.started, c.valid, `${c.name}: start\n${s.out}`);
}

/** Cases checked at once: three lanes keep the processes alive at a time few on a loaded machine. */
const LANES = 3;

// Each case has its own file, data dir and raft port, so they run side by side in LANES lanes
// (14 processes spawned one after another took most of this test's time).
test("validate and start agree on every file, flag and variable", { timeout: 240_000 }, async () => {
  const queue = await cases();
  const failed: string[] = [];
  const lane = async (): Promise<void> => {
    for (let c = queue.shift(); c !== undefined; c = queue.shift()) {
      await check(c).catch((err: unknown) => failed.push(String(err)));
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  assert.deepEqual(failed, [], failed.join("\n\n"));
});
