// The breaker decider keeps member windows in one slab (reused when a member is forgotten)
// and walks its members on tick() only when one is timed or a sweep is due. Neither may show
// in a decision: each member of a decider shared by many members (whose walks and sweeps come
// whenever any member needs one, and whose windows are reused across members) must decide
// exactly like the same member alone in a decider of its own, over seeded streams of
// outcomes, overrides and adoptions.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BreakerDecider, type BreakerRules, type OutcomeCounts } from "../../health/breaker.js";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";

const RULES: BreakerRules = {
  consecutiveFailures: 4,
  failureRate: 0.5,
  minRequests: 6,
  window: 1000,
  openFor: 150,
  maxOpenFor: 1200,
  halfOpenProbes: 2,
};
const POOLS = ["a", "b"];
const memberIds = (n: number) => Array.from({ length: n }, (_, i) => `m${i}`);

function entry(pool: string, member: string, success: number, failure: number): OutcomeCounts {
  const consecutive = success === 0 ? failure : failure > 0 ? 1 : 0;
  return {
    pool,
    member,
    success,
    failure,
    consecutive,
    maxConsecutive: Math.max(consecutive, failure > 1 ? 2 : 0),
    connectErrors: 0,
    resets: 0,
    timeouts: 0,
  };
}

function decisionView(d: BreakerDecider, pool: string, member: string): string {
  const v = d.view(pool, member);
  return `${v.state}/${v.override}/${v.reopens}/${v.until}`;
}

/**
 * Runs a seeded stream through one decider shared by every member and a decider per member,
 * comparing each step's transitions per member, and every member's state each `viewEvery` steps.
 * `traffic`: members of the first pool that get outcomes besides the stream (a pool with
 * more members with traffic than one sweep slice visits).
 */
function compareStreams(base: number, members: number, steps: number, viewEvery: number, traffic = 0): void {
  const MEMBERS = memberIds(members);
  const seed = testSeed(base);
  const rnd = seededRandom(seed);
  const shared = new BreakerDecider(RULES, 400);
  const alone = new Map<string, BreakerDecider>();
  for (const pool of POOLS)
    for (const member of MEMBERS) alone.set(`${pool}/${member}`, new BreakerDecider(RULES, 400));
  const own = (pool: string, member: string) => alone.get(`${pool}/${member}`) as BreakerDecider;
  let now = 0;
  let transitions = 0;
  let forgotten = 0;
  for (let step = 0; step < steps; step++) {
    now += Math.floor(rnd() * 250);
    const at = `step ${step}, t=${now} (${seedNote(seed)})`;
    const r = rnd();
    if (r < 0.03) {
      const [pool, member] = [pick(rnd, POOLS), pick(rnd, MEMBERS)];
      const mode = pick(rnd, ["open", "closed", "auto"] as const);
      assert.deepEqual(
        shared.override(pool, member, mode, now),
        own(pool, member).override(pool, member, mode, now),
        at,
      );
    } else if (r < 0.05) {
      const [pool, member] = [pick(rnd, POOLS), pick(rnd, MEMBERS)];
      const state = pick(rnd, ["open", "closed", "half-open"] as const);
      const reopens = Math.floor(rnd() * 3);
      shared.adopt(pool, member, state, reopens, now);
      own(pool, member).adopt(pool, member, state, reopens, now);
    } else {
      const entries: OutcomeCounts[] = [];
      const n = 1 + Math.floor(rnd() * 12);
      for (let i = 0; i < n; i++) {
        const [pool, member] = [pick(rnd, POOLS), pick(rnd, MEMBERS)];
        if (entries.some((e) => e.pool === pool && e.member === member)) continue;
        const bad = rnd() < 0.25;
        const ok = bad ? Math.floor(rnd() * 2) : 1 + Math.floor(rnd() * 5);
        entries.push(entry(pool, member, ok, bad ? 1 + Math.floor(rnd() * 3) : 0));
      }
      // Background traffic: successes on the first `traffic` members (a big pool's sweep).
      for (let i = 0; i < traffic && step % 10 === 0; i++)
        if (!entries.some((e) => e.pool === POOLS[0] && e.member === MEMBERS[i]))
          entries.push(entry(POOLS[0], MEMBERS[i], 1, 0));
      const tracked = shared.trackedMembers;
      const got = shared.ingest({ entries }, now);
      forgotten += Math.max(0, tracked - shared.trackedMembers);
      transitions += got.length;
      // Every lone decider ingests its own entries (none: a tick) at the same moment.
      const byMember = new Map<string, OutcomeCounts[]>();
      for (const e of entries) byMember.set(`${e.pool}/${e.member}`, [e]);
      for (const pool of POOLS)
        for (const member of MEMBERS) {
          const mine = byMember.get(`${pool}/${member}`) ?? [];
          const expected = own(pool, member).ingest({ entries: mine }, now);
          const seen = got.filter((t) => t.pool === pool && t.member === member);
          assert.deepEqual(seen, expected, `${pool}/${member} at ${at}`);
        }
    }
    if (step % viewEvery !== 0) continue;
    for (const pool of POOLS)
      for (const member of MEMBERS)
        assert.equal(
          decisionView(shared, pool, member),
          decisionView(own(pool, member), pool, member),
          `${pool}/${member} at ${at}`,
        );
  }
  // The stream exercised what it is about: trips, and windows forgotten (then reused).
  assert.ok(transitions > 50, `only ${transitions} transitions (seed=${seed})`);
  assert.ok(forgotten > 50, `only ${forgotten} members forgotten (seed=${seed})`);
}

describe("BreakerDecider: window slab and sweep timing", () => {
  for (const base of [16, 17, 18])
    test(`a member decides alike among many and alone (seeded ${base})`, () =>
      compareStreams(base, 60, 1500, 1));

  // More members with traffic than one sweep slice (1,024) visits: the sweep spans ticks. One
  // seed is enough: its 1,500 steps (~190 s of stream time, one sweep per bucket) run a sweep
  // across ticks many times over, and the variety of decisions comes from the three streams
  // above. A second seed cost 3.9 s of CPU (each step asks 3,000 lone deciders) for that path.
  test("a member decides alike among many and alone while the sweep spans ticks (seeded 19)", () =>
    compareStreams(19, 1500, 1500, 50, 1400));

  test("a tick visits the timed members and a slice of the sweep, not every member with traffic", () => {
    const d = new BreakerDecider(RULES, 400);
    const n = 5000;
    const ids = memberIds(n);
    // Every member has traffic in its window; m0 trips (4 consecutive failures).
    d.ingest({ entries: ids.map((m) => entry("a", m, 1, 0)) }, 0);
    const trips = d.ingest({ entries: [entry("a", "m0", 0, 4)] }, 1);
    assert.equal(trips[0]?.to, "open");
    assert.equal(d.trackedMembers, n);
    // Within the bucket whose sweep is done: a tick steps the one open member and nobody else.
    assert.deepEqual(d.tick(50), []);
    assert.equal(d.lastTickVisits, 1, "one member is timed: one visit");
    // Cool-down over (150 ms) and every window expired (1 s): m0 turns half-open at once,
    // and the others are forgotten over a few ticks, none visiting more than a slice.
    const at = 1200;
    assert.equal(d.tick(at)[0]?.to, "half-open");
    let ticks = 1;
    let most = d.lastTickVisits;
    while (d.trackedMembers > 1 && ticks < 100) {
      d.tick(at + ticks);
      most = Math.max(most, d.lastTickVisits);
      ticks++;
    }
    assert.equal(d.trackedMembers, 1, "every expired window was forgotten");
    assert.equal(d.view("a", "m0").state, "half-open", "the half-open member was kept");
    assert.ok(most <= 1024 + 1, `a tick visited ${most} members`);
    assert.ok(ticks >= Math.ceil(n / 1024), `the sweep took ${ticks} ticks`);
  });

  test("a forgotten member's window is empty when another member takes it over", () => {
    const d = new BreakerDecider({ ...RULES, consecutiveFailures: 1000, minRequests: 4 }, 400);
    // m0 fills its window short of a trip (3 requests of minRequests 4; its failure run
    // ended by a success), then it expires.
    assert.deepEqual(d.ingest({ entries: [{ ...entry("a", "m0", 2, 1), consecutive: 0 }] }, 0), []);
    assert.equal(d.view("a", "m0").windowTotal, 3);
    assert.deepEqual(d.tick(5000), []);
    assert.equal(d.trackedMembers, 0, "m0's expired window was forgotten");
    // m1 gets the freed window: 1 request, below minRequests (on m0's leftovers: 2 of 4 trip it).
    assert.deepEqual(d.ingest({ entries: [entry("a", "m1", 0, 1)] }, 5001), []);
    assert.deepEqual(d.view("a", "m1"), {
      state: "closed",
      until: null,
      reopens: 0,
      override: "auto",
      windowTotal: 1,
      windowFailures: 1,
    });
  });
});
