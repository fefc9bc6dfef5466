// BreakerDecider.ingest with the pool's members (`known`, issue 16): the leader's ingest looks
// a member with traffic up once (its state), not in the controller's member set first and in
// the decider's map after. An entry for a member the decider has no state for is checked
// against `known` and skipped (counted) when the pool lacks it; a member with state is not
// asked about again; the decisions are those of an ingest that filtered the batch first.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BreakerDecider, type BreakerRules, type OutcomeCounts } from "../../health/breaker.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const RULES: BreakerRules = {
  consecutiveFailures: 5,
  failureRate: 0.5,
  minRequests: 20,
  window: 10_000,
  openFor: 5_000,
  maxOpenFor: 60_000,
  halfOpenProbes: 3,
};

function entry(member: string, success: number, failure: number, run = 0): OutcomeCounts {
  return {
    pool: "p",
    member,
    success,
    failure,
    consecutive: run,
    maxConsecutive: run,
    connectErrors: 0,
    resets: 0,
    timeouts: 0,
  };
}

/** A member set that counts its has() calls. */
class CountingSet extends Set<string> {
  probes = 0;
  override has(v: string): boolean {
    this.probes++;
    return super.has(v);
  }
}

describe("BreakerDecider.ingest with the pool's known members", () => {
  test("skips members outside `known` and counts them; asks `known` only for members without state", () => {
    const d = new BreakerDecider(RULES, 30_000);
    const known = new CountingSet(["a", "b"]);
    const out = d.ingest(
      { entries: [entry("a", 3, 0), entry("ghost", 0, 9, 9), entry("b", 1, 0)] },
      0,
      known,
    );
    assert.deepEqual(out, [], "the unknown member's failures tripped nothing");
    assert.equal(d.lastIngestIgnored, 1, "one entry skipped");
    assert.equal(d.trackedMembers, 2, "no state for the unknown member");
    assert.equal(d.view("p", "ghost").windowTotal, 0);
    assert.equal(known.probes, 3, "each member without state asked once");
    // a and b have state now: the next batches do not ask about them.
    known.probes = 0;
    for (let t = 100; t <= 1000; t += 100)
      d.ingest({ entries: [entry("a", 1, 0), entry("b", 1, 0)] }, t, known);
    assert.equal(known.probes, 0, "members with state are not probed again");
    assert.equal(d.lastIngestIgnored, 0);
    assert.equal(d.view("p", "a").windowTotal, 13);
  });

  test("decides as an ingest of the batch filtered to known members first (seeded)", () => {
    const seed = testSeed(1617);
    const rnd = seededRandom(seed);
    const ids = Array.from({ length: 40 }, (_, i) => `m${i}`);
    const known = new Set(ids.filter(() => rnd() < 0.7));
    const withKnown = new BreakerDecider(RULES, 30_000);
    const filtered = new BreakerDecider(RULES, 30_000);
    let ignoredTotal = 0;
    for (let step = 0; step < 300; step++) {
      const now = step * 100;
      const entries: OutcomeCounts[] = [];
      for (const id of ids) {
        if (rnd() < 0.5) continue;
        const failure = rnd() < 0.2 ? Math.floor(rnd() * 4) : 0;
        const success = Math.floor(rnd() * 4);
        if (success + failure === 0) continue;
        entries.push(entry(id, success, failure, failure > 0 && success === 0 ? failure : 0));
      }
      const a = withKnown.ingest({ entries }, now, known);
      const b = filtered.ingest({ entries: entries.filter((e) => known.has(e.member)) }, now);
      assert.deepEqual(a, b, `step ${step}: transitions; ${seedNote(seed)}`);
      const skipped = entries.filter((e) => !known.has(e.member)).length;
      assert.equal(withKnown.lastIngestIgnored, skipped, `step ${step}: skipped; ${seedNote(seed)}`);
      ignoredTotal += skipped;
      assert.equal(withKnown.trackedMembers, filtered.trackedMembers, `step ${step}; ${seedNote(seed)}`);
    }
    for (const id of ids)
      assert.deepEqual(withKnown.view("p", id), filtered.view("p", id), `${id}; ${seedNote(seed)}`);
    assert.ok(ignoredTotal > 0, "the batches named members outside the pool");
  });
});
