// Tried from the outside: starts at the same instant on one data directory whose LOCK was
// stale (a dead pid) could both win: each judged the pid dead, the later one unlinked the
// lock the earlier had just created and made its own, and two processes ran on one Raft log.
// Now the lock is a kernel lock on an open descriptor (proxy/app/data-dir-lock.ts, README
// "Security limits"): of N contenders released at one wall-clock instant exactly one wins and
// every other is refused data_dir_locked; a stale LOCK (dead pid, torn, empty) is still taken
// over; a holder that dies with kill -9 frees it at once. Real processes; the starting state
// of each round is drawn from a seed printed with every failure.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { reapOnExit } from "../support/child-reaper.js";
import { oneMemberConfig } from "../support/minimal-config.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { ShardgateChild } from "../support/shardgate-process.js";

const SEED = testSeed(Date.now() % 1_000_000);
const CONTENDER = fileURLToPath(new URL("./lock-contender.js", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "shardgate-simultaneous-"));
after(() => rmSync(root, { recursive: true, force: true }));

interface Outcome {
  ok: boolean;
  code?: string;
  message?: string;
  pid?: number;
}

interface Contender {
  child: ChildProcess;
  outcome: Promise<Outcome>;
  exited: Promise<number | null>;
}

function contend(dir: string, startAt: number): Contender {
  const child = reapOnExit(spawn(process.execPath, [CONTENDER, dir, String(startAt)], { stdio: "pipe" }));
  let out = "";
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const outcome = new Promise<Outcome>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as Outcome);
    });
    child.once("exit", (code) => reject(new Error(`contender exited ${code} before an outcome: ${err}`)));
  });
  return { child, outcome, exited };
}

/** The pid of a process that has exited (a crashed holder). */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => c.once("exit", resolve));
  return c.pid ?? 999_999;
}

const STATES = ["none", "dead pid", "torn", "empty"] as const;

test(`N contenders at one instant: exactly one wins, whatever the LOCK left before (seed ${SEED})`, {
  timeout: 240_000,
}, async () => {
  const random = seededRandom(SEED);
  const ROUNDS = 8;
  for (let round = 0; round < ROUNDS; round++) {
    const dir = mkdtempSync(join(root, "round-"));
    const state = STATES[Math.floor(random() * STATES.length)];
    const n = 4 + Math.floor(random() * 5); // 4..8 contenders
    const file = join(dir, "LOCK");
    if (state === "dead pid")
      writeFileSync(file, `${JSON.stringify({ pid: await deadPid(), started: "1", host: hostname() })}\n`);
    else if (state === "torn") writeFileSync(file, '{"pid":12');
    else if (state === "empty") writeFileSync(file, "");
    const ctx = `seed ${SEED}, round ${round}, LOCK before: ${state}, ${n} contenders`;
    // Far enough ahead that every contender has started and is spinning at the instant.
    const startAt = Date.now() + 3_000;
    const contenders = Array.from({ length: n }, () => contend(dir, startAt));
    try {
      await judgeRound(contenders, file, n, ctx);
    } finally {
      for (const c of contenders) c.child.stdin?.end();
    }
  }
});

async function judgeRound(contenders: Contender[], file: string, n: number, ctx: string): Promise<void> {
  const outcomes = await Promise.all(contenders.map((c) => c.outcome));
  const winners = outcomes.filter((o) => o.ok);
  assert.equal(winners.length, 1, `exactly one winner (${ctx}): ${JSON.stringify(outcomes)}`);
  for (const o of outcomes.filter((x) => !x.ok)) {
    assert.equal(o.code, "data_dir_locked", `${ctx}: ${JSON.stringify(o)}`);
    assert.match(o.message ?? "", /one shardgate process per data directory/, ctx);
  }
  assert.equal(
    (JSON.parse(readFileSync(file, "utf8")) as { pid: number }).pid,
    winners[0].pid,
    `LOCK names the winner (${ctx})`,
  );
  for (const c of contenders) c.child.stdin?.end();
  assert.deepEqual(await Promise.all(contenders.map((c) => c.exited)), Array(n).fill(0), ctx);
  assert.equal(existsSync(file), false, `the winner's release removed LOCK (${ctx})`);
}

test("a holder killed with -9 frees the lock at once; while it lives every other start is refused", {
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(root, "kill9-"));
  const holder = contend(dir, 0);
  assert.equal((await holder.outcome).ok, true);
  const other = contend(dir, 0);
  const refused = await other.outcome;
  assert.equal(refused.code, "data_dir_locked", JSON.stringify(refused));
  assert.match(refused.message ?? "", new RegExp(`in use by process ${holder.child.pid}`));
  other.child.stdin?.end();
  await other.exited;
  holder.child.kill("SIGKILL");
  await holder.exited;
  const next = contend(dir, 0);
  assert.equal((await next.outcome).ok, true, "the dead holder's lock is taken over");
  next.child.stdin?.end();
  assert.equal(await next.exited, 0);
});

test("three `shardgate start` at once on one data directory: one runs, two exit 1 with data_dir_locked", {
  timeout: 180_000,
}, async () => {
  const dir = mkdtempSync(join(root, "starts-"));
  const config = join(dir, "shardgate.yaml");
  writeFileSync(config, oneMemberConfig());
  const data = join(dir, "data");
  const starts = Array.from(
    { length: 3 },
    () => new ShardgateChild(["start", "--config", config, "--data-dir", data]),
  );
  try {
    await Promise.all(
      starts.map((s) =>
        s.waitFor("listening or exit", () => s.exit ?? s.lines.find((l) => l.msg === "listening"), 90_000),
      ),
    );
    const running = starts.filter((s) => s.exit === undefined);
    const refused = starts.filter((s) => s.exit !== undefined);
    const why = starts.map((s) => `${JSON.stringify(s.exit)} ${s.stderr.slice(0, 300)}`).join("\n");
    assert.equal(running.length, 1, why);
    for (const s of refused) {
      assert.equal(s.exit?.code, 1, why);
      assert.match(
        s.stderr,
        /data_dir_locked: data directory .*data: (in use by process \d+|being taken)/,
        why,
      );
    }
  } finally {
    for (const s of starts) if (s.exit === undefined) await s.stop();
  }
});
