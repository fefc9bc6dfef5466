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
  /** Its "ready" line: loaded and waiting for the instant. */
  ready: Promise<void>;
  outcome: Promise<Outcome>;
  exited: Promise<number | null>;
  /** Sends the wall-clock instant (epoch ms; 0: at once) to take the lock at. */
  go(startAt: number): void;
}

function contend(dir: string): Contender {
  const child = reapOnExit(spawn(process.execPath, [CONTENDER, dir], { stdio: "pipe" }));
  let out = "";
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const early = (what: string) => (code: number | null) =>
    new Error(`contender exited ${code} before ${what}: ${err}`);
  const lines: string[] = [];
  const line = (i: number, what: string): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const check = (): void => {
        if (lines.length > i) resolve(lines[i]);
      };
      child.stdout?.on("data", check);
      child.once("exit", (code) => reject(early(what)(code)));
      check();
    });
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    for (let nl = out.indexOf("\n"); nl >= 0; nl = out.indexOf("\n")) {
      lines.push(out.slice(0, nl));
      out = out.slice(nl + 1);
    }
  });
  const ready = line(0, "ready").then((l) => assert.equal(l, "ready", `a contender's first line: ${l}`));
  const outcome = line(1, "an outcome").then((l) => JSON.parse(l) as Outcome);
  // Either may be left unawaited when the other fails first.
  ready.catch(() => undefined);
  outcome.catch(() => undefined);
  return { child, ready, outcome, exited, go: (startAt) => child.stdin?.write(`${startAt}\n`) };
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
    const contenders = Array.from({ length: n }, () => contend(dir));
    try {
      // Every contender loaded and listening: the instant only needs to outlast the writes below
      // and each one's wake-up to read it (one it reads late still contends, just not sharply).
      await Promise.all(contenders.map((c) => c.ready));
      const startAt = Date.now() + 250;
      for (const c of contenders) c.go(startAt);
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
  const holder = contend(dir);
  holder.go(0);
  assert.equal((await holder.outcome).ok, true);
  const other = contend(dir);
  other.go(0);
  const refused = await other.outcome;
  assert.equal(refused.code, "data_dir_locked", JSON.stringify(refused));
  assert.match(refused.message ?? "", new RegExp(`in use by process ${holder.child.pid}`));
  other.child.stdin?.end();
  await other.exited;
  holder.child.kill("SIGKILL");
  await holder.exited;
  const next = contend(dir);
  next.go(0);
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
