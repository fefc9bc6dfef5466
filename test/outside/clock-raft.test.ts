// The wall clock steps while a Raft request waits (tried from the outside): two of a three-voter
// cluster run under libfaketime, the third voter is unreachable (never started), and an operator
// hands leadership to it (`ctl leader transfer c`, POST /admin/cluster/transfer), which can only
// end by its deadline. Found on the old code: the driver's request deadlines (proposals, conf
// changes, ReadIndex reads, transfers) were Date.now() + timeout, checked against Date.now() on
// every tick. An hour back and the request waited for the hour (ctl gave up on its own 15 s
// client timeout, without the cluster's answer); an hour forward and it failed at the next
// tick. Raft's elections are counted in ticks of a monotonic timer: the term must not move.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ClockStep, clockStepMissing } from "../support/clock-step.js";
import { parseState, type StateView } from "../support/cluster/admin-views.js";
import { fleetConfigYaml } from "../support/cluster/fleet-config.js";
import { fleetNodeSpecs } from "../support/cluster/fleet-node-specs.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const missing = clockStepMissing();
const TOKEN = "clock-raft-admin-token";
const SECRET = "clock-raft-secret-0123456789abcdef";
const ELECTION_MS = 1_000;
/** The driver's transferTimeoutMs(ELECTION_MS): how long a transfer may wait before TIMEOUT. */
const TRANSFER_TIMEOUT_MS = 5_000 + 2 * ELECTION_MS;

const clocks: ClockStep[] = [];
const dirs: string[] = [];

after(async () => {
  await stopAll();
  for (const c of clocks) c.remove();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Two running voters of a three-voter cluster whose wall clock `clock` steps (each case its own). */
interface RaftGate {
  clock: ClockStep;
  running: Map<string, RunningShardgate>;
}

async function raftGate(): Promise<RaftGate> {
  const clock = new ClockStep();
  clocks.push(clock);
  const dir = mkdtempSync(join(tmpdir(), "sg-clock-raft-"));
  dirs.push(dir);
  const nodes = await fleetNodeSpecs(["a", "b", "c"], dir);
  const routing = `pools:
  p:
    members: [{ id: m1, address: "127.0.0.1:9" }]
routes:
  - { pool: p, key: [header:x-k], onMissingKey: reject }
`;
  // c is a voter nobody runs: the cluster has its quorum (a, b) and one unreachable voter.
  const started = await Promise.all(
    nodes.slice(0, 2).map((self) =>
      startShardgate(
        fleetConfigYaml({
          self,
          nodes,
          voters: ["a", "b", "c"],
          consulAddress: "127.0.0.1:9",
          electionTimeoutMs: ELECTION_MS,
          heartbeatMs: 100,
          adminToken: TOKEN,
          routingYaml: routing,
          accessLog: false,
          faultInjection: false,
        }),
        { env: { ...clock.env, SHARDGATE_CLUSTER_SECRET: SECRET }, args: ["--bootstrap"] },
      ),
    ),
  );
  return {
    clock,
    running: new Map([
      ["a", started[0]],
      ["b", started[1]],
    ]),
  };
}

async function stateOf(sg: RunningShardgate): Promise<StateView> {
  const r = await fetch(`${sg.adminUrl}/admin/state`);
  return parseState("/admin/state", await r.json());
}

/** The instance both running voters name as leader, and the term they agree on. */
async function agreedLeader({
  running,
}: RaftGate): Promise<{ sg: RunningShardgate; id: string; term: number }> {
  return eventually("a and b to agree on a leader", async () => {
    const [a, b] = await Promise.all([stateOf(running.get("a")!), stateOf(running.get("b")!)]);
    const id = a.raft.leader;
    if (id === null || id !== b.raft.leader || a.raft.term !== b.raft.term) return undefined;
    return { sg: running.get(id)!, id, term: a.raft.term };
  });
}

interface Pending {
  /** The answer's status and body, and performance.now() (this process) when it arrived. */
  answer: Promise<{ status: number; body: string; at: number }>;
}

/**
 * POSTs `json` to `path` on `sg` (what ctl sends) and resolves once shardgate has taken it: the
 * POST was flushed to the kernel, and then a GET /healthz on a new connection was answered,
 * which shardgate reads in a later turn of its event loop than the POST's bytes (the handlers
 * set their deadline without waiting on any I/O first).
 */
async function startPost(sg: RunningShardgate, path: string, json: unknown): Promise<Pending> {
  const url = new URL(`${sg.adminUrl}${path}`);
  const body = JSON.stringify(json);
  let flushed: () => void = () => {};
  const sent = new Promise<void>((r) => {
    flushed = r;
  });
  const answer = new Promise<{ status: number; body: string; at: number }>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        agent: false,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, at: performance.now() }));
      },
    );
    req.on("error", (e) => reject(new Error(`POST ${path}: closed without an answer (${e.message})`)));
    req.end(body, flushed);
  });
  await sent;
  const r = await fetch(`${sg.adminUrl}/healthz`);
  await r.arrayBuffer();
  return { answer };
}

/** The answer, or a rejection naming `what` after `ms` (scaled). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${scaled(ms)} ms`)), scaled(ms));
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

function assertTimedOut(a: { status: number; body: string }, what: string): void {
  assert.equal(a.status, 504, `${what}: ${a.status} ${a.body}`);
  const j = JSON.parse(a.body) as { error?: string; message?: string };
  assert.equal(j.error, "timeout", `${what}: ${a.body}`);
  assert.match(String(j.message), /leadership did not move to c in time/, `${what}: ${a.body}`);
}

/**
 * Asks the leader to transfer to the unreachable voter c, steps the clock by `step` once
 * shardgate has taken the request, and checks the answer is the transfer's timeout and that no
 * election came of the step. Returns the ms from the step to the answer.
 */
async function transferAcrossStep(step: "-1h" | "+1h"): Promise<number> {
  const g = await raftGate();
  const { clock } = g;
  const before = await agreedLeader(g);
  const t = await startPost(before.sg, "/admin/cluster/transfer", { id: "c" });
  const stepped = performance.now();
  clock.step(step);
  const a = await within(t.answer, TRANSFER_TIMEOUT_MS + 60_000, `transfer after a ${step} step`);
  clock.step("+0");
  assertTimedOut(a, `after a ${step} step`);
  const after = await agreedLeader(g);
  assert.deepEqual([after.id, after.term], [before.id, before.term], "no election came of the step");
  return a.at - stepped;
}

// Each case waits out a request deadline on its own cluster (two processes) and its own clock,
// so the cases run side by side.
describe("clock steps while a Raft request waits", { skip: missing, concurrency: 3 }, () => {
  it("a transfer to an unreachable voter still times out with its error after the clock steps back an hour", {
    timeout: 300_000,
  }, async () => {
    await transferAcrossStep("-1h");
  });

  it("a transfer to an unreachable voter does not fail at once when the clock steps forward an hour", {
    timeout: 300_000,
  }, async () => {
    const waited = await transferAcrossStep("+1h");
    // Its deadline counts from before the step: half of it is a lower limit no scheduling delay
    // on a loaded machine undercuts. The old code failed it at the next tick.
    assert.ok(
      waited >= TRANSFER_TIMEOUT_MS / 2,
      `the transfer failed ${Math.round(waited)} ms after a +1h step; its deadline is ${TRANSFER_TIMEOUT_MS} ms`,
    );
  });

  // It stops the leader (of its own cluster). This one held on the old code too (checked): the follower stops following when its election timer (monotonic
  // ticks) fires, which settles the forwarded proposal, and the admin's retry window
  // (proposeWithRetry) was already on performance.now(). It guards that path against a regression.
  it("a drain proposed through a follower whose leader stopped still answers after the clock steps back an hour", {
    timeout: 300_000,
  }, async () => {
    const g = await raftGate();
    const { clock, running } = g;
    const lead = await agreedLeader(g);
    const follower = running.get(lead.id === "a" ? "b" : "a") as RunningShardgate;
    lead.sg.proc.signal("SIGSTOP");
    try {
      const t = await startPost(follower, "/admin/pools/p/members/m1/drain", {});
      clock.step("-1h");
      const a = await within(t.answer, 60_000, "drain after a -1h step");
      const j = JSON.parse(a.body) as { error?: string; message?: string };
      assert.equal(a.status, 503, a.body);
      assert.equal(j.error, "not_committed", a.body);
    } finally {
      lead.sg.proc.signal("SIGCONT");
      clock.step("+0");
    }
  });
});
