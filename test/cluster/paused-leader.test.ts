// A paused Raft leader (clock and timing, as Jepsen's pause nemesis): SIGSTOP the leader of a
// real 3-voter + 1-learner fleet for at least 2x the election timeout, commit a routing change
// (a drain) under the new leader meanwhile, then SIGCONT. The resumed process must step down
// on the first higher term it hears, never claim leadership in a term another instance led
// (every /admin/state answer of every instance is recorded, including the resumed one's), and
// route with the new ring version (/admin/state and /admin/route) once it catches up. A
// paused process's tick timer does not see the wall time it missed, so it must not rely on
// its lease: the higher term has to win. Seeded; the seed is printed on failure.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  allHealthy,
  closeFleet,
  describeStates,
  type Fleet,
  startFleet,
} from "../support/cluster/fleet-fixture.js";
import { sleep } from "../support/cluster/http-client.js";
import type { FleetNode } from "../support/cluster-launcher.js";
import { testSeed } from "../support/prng.js";
import { scaled } from "../support/wait.js";

const SEED = testSeed(9404);
const ELECTION_MS = 1000;

interface Seen {
  node: string;
  role: string;
  term: number;
  ringVersion: number;
  at: number;
}

describe("a leader paused past 2x the election timeout steps down when resumed", () => {
  let fleet: Fleet | undefined;

  before(async () => {
    fleet = await startFleet({ seed: SEED, electionTimeoutMs: ELECTION_MS, heartbeatMs: 100 });
  });
  after(() => closeFleet(fleet));

  test("SIGSTOP the leader, drain under the next one, SIGCONT: one leader per term, new routes", async (t) => {
    const f = fleet as Fleet;
    const { cluster, ups } = f;
    const c0 = await cluster.waitConverged({ accept: (s) => allHealthy(s, "users", ups.ids) });
    const old = cluster.node(c0.leader);
    const pid = old.pid;
    assert.ok(pid !== undefined, f.why("the leader has a pid"));
    const seen: Seen[] = [];
    // Every state answer of every instance, until the test ends (bounded by its own deadline).
    let watching = true;
    // One poller per instance, so the paused one's unanswered requests delay nobody else's.
    const watchOne = async (n: FleetNode): Promise<void> => {
      const stopAt = Date.now() + scaled(180_000);
      while (watching && Date.now() < stopAt) {
        const s = await cluster.stateOf(n).catch(() => undefined);
        if (s !== undefined)
          seen.push({
            node: n.id,
            role: s.raft.role,
            term: s.raft.term,
            ringVersion: s.ringVersion,
            at: Date.now(),
          });
        await sleep(50);
      }
    };
    const watch = Promise.all(cluster.live().map(watchOne));
    let paused = false;
    t.after(async () => {
      if (paused) process.kill(pid, "SIGCONT");
      watching = false;
      await watch;
    });

    process.kill(pid, "SIGSTOP");
    paused = true;
    const stoppedAt = Date.now();
    const others = cluster.live().filter((n) => n !== old);
    const voters = others.filter((n) => n.voter);
    // A new leader in a later term among the others (condition, bounded).
    const next = await waitFor(
      "a new leader among the others",
      async () => {
        for (const n of voters) {
          const s = await cluster.stateOf(n).catch(() => undefined);
          if (s !== undefined && s.raft.role === "leader" && s.raft.term > c0.term)
            return { n, term: s.raft.term };
        }
        return undefined;
      },
      scaled(60_000),
    );
    // A routing change committed while the old leader sleeps.
    const drained = ups.ids[Math.floor(f.random() * ups.ids.length)];
    const dr = await cluster.adminPost(next.n, `/admin/pools/users/members/${drained}/drain`);
    assert.equal(dr.status, 200, f.why(`drain through the new leader: ${dr.status} ${dr.text}`));
    const v1 = (dr.body as { ringVersion: number }).ringVersion;
    assert.ok(v1 > c0.ringVersion, f.why(`ring version ${v1} after ${c0.ringVersion}`));
    // Paused for at least 2x the election timeout in all.
    const left = 2 * ELECTION_MS - (Date.now() - stoppedAt);
    if (left > 0) await sleep(left);

    process.kill(pid, "SIGCONT");
    paused = false;
    const resumedAt = Date.now();
    const caughtUp = await waitFor(
      "the resumed instance follows the new term and routes with the new ring version",
      async () => {
        const s = await cluster.stateOf(old).catch(() => undefined);
        return s !== undefined && s.raft.role !== "leader" && s.raft.term >= next.term && s.ringVersion >= v1
          ? s
          : undefined;
      },
      scaled(60_000),
    );
    const route = await cluster.routeOf(old, "users", "paused-leader-key");
    assert.ok(route.ringVersion >= v1, f.why(`the resumed instance routes at ${route.ringVersion} < ${v1}`));
    assert.ok(
      !caughtUp.pools.users.members.some((m) => m.id === drained && !m.draining),
      f.why(`the resumed instance does not see ${drained} drained`),
    );
    watching = false;
    await watch;

    // Election safety over everything observed: one leader per term.
    const leaderOf = new Map<number, string>();
    for (const s of seen) {
      if (s.role !== "leader") continue;
      const had = leaderOf.get(s.term);
      assert.ok(
        had === undefined || had === s.node,
        f.why(`two leaders in term ${s.term}: ${had} and ${s.node}\n${JSON.stringify(seen.slice(-40))}`),
      );
      leaderOf.set(s.term, s.node);
    }
    // Once resumed, the old process never said "leader" in a term at or after the new one,
    // and whatever it said as leader carried the old term and the old ring version.
    for (const s of seen.filter((x) => x.node === old.id && x.role === "leader" && x.at >= resumedAt)) {
      assert.ok(s.term < next.term, f.why(`the resumed instance led in term ${s.term}`));
    }
    const states = await cluster.states();
    assert.equal(
      [...states.values()].filter((s) => s.raft.role === "leader").length,
      1,
      f.why(`one leader at the end:\n${describeStates(states)}`),
    );
    t.diagnostic(
      `seed=${SEED} old=${old.id} t${c0.term} new=${next.n.id} t${next.term} ringVersion ${c0.ringVersion}->${v1}; ` +
        `caught up ${Date.now() - resumedAt} ms after SIGCONT; ${seen.length} state answers`,
    );
  });
});

/** Polls `probe` until it returns a value; throws naming `what` after `ms`. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (seed=${SEED})`);
    await sleep(100);
  }
}
