// Unit tests for the circuit breaker: every transition, the backoff cap, overrides, and the
// recorder's batching. Time is a plain number passed in; nothing here sleeps.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { poolSchema } from "../../config/file/schema.js";
import { BreakerDecider, type BreakerRules, OutcomeRecorder } from "../../health/breaker.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const P = "pool";
const M = "m1";

function batch(
  success: number,
  failure: number,
  consecutive = failure > 0 && success === 0 ? failure : 0,
  maxConsecutive = consecutive,
) {
  return {
    entries: [
      {
        pool: P,
        member: M,
        success,
        failure,
        consecutive,
        maxConsecutive,
        connectErrors: 0,
        resets: 0,
        timeouts: 0,
      },
    ],
  };
}

/** Rules in the schema's output form (durations in ms); `responseTimeout` bounds half-open. */
function decider(o: Partial<BreakerRules> = {}, responseTimeout = 30_000) {
  const rules: BreakerRules = {
    consecutiveFailures: 3,
    failureRate: 0.5,
    minRequests: 10,
    window: 1000,
    openFor: 100,
    maxOpenFor: 1000,
    halfOpenProbes: 2,
    ...o,
  };
  return new BreakerDecider(rules, responseTimeout);
}

/** Only the failure-rate rule can trip (no run of failures in these tests reaches it). */
const RATE_ONLY = { consecutiveFailures: 1_000_000 };

describe("BreakerDecider", () => {
  test("a member whose window expired is forgotten, and then decides like a new one", () => {
    const rules = { ...RATE_ONLY, minRequests: 4, window: 1000 };
    const d = decider(rules);
    assert.deepEqual(d.ingest(batch(100, 0), 0), []);
    assert.equal(d.trackedMembers, 1, "a member with traffic in its window has state");
    // Inside the window the successes still count: 4 failures of 104 do not trip it.
    const kept = decider(rules);
    kept.ingest(batch(100, 0), 0);
    assert.deepEqual(kept.ingest(batch(0, 4, 0), 500), []);
    // Once every bucket expired the state is dropped; 4 failures of 4 trip it, as for a new member.
    assert.deepEqual(d.tick(2000), []);
    assert.equal(d.trackedMembers, 0, "an expired closed window is forgotten");
    assert.deepEqual(d.ingest(batch(0, 4, 0), 2001), [
      { pool: P, member: M, from: "closed", to: "open", until: 2101, reason: "failure-rate" },
    ]);
  });

  test("a run of failures outlives the window: the member keeps its state", () => {
    const d = decider({ consecutiveFailures: 3, minRequests: 1000, window: 1000 });
    assert.deepEqual(d.ingest(batch(0, 2), 0), []);
    assert.deepEqual(d.tick(5000), []);
    assert.equal(d.trackedMembers, 1, "a failure run is state a new member lacks");
    assert.deepEqual(d.ingest(batch(0, 1), 5001), [
      { pool: P, member: M, from: "closed", to: "open", until: 5101, reason: "consecutive-failures" },
    ]);
  });

  test("closed -> open after N consecutive failures", () => {
    const d = decider();
    assert.deepEqual(d.ingest(batch(0, 2), 0), []);
    const t = d.ingest(batch(0, 1), 10);
    assert.deepEqual(t, [
      { pool: P, member: M, from: "closed", to: "open", until: 110, reason: "consecutive-failures" },
    ]);
  });

  test("a success in between resets the consecutive count", () => {
    const d = decider();
    d.ingest(batch(0, 2), 0);
    d.ingest(batch(1, 0), 1);
    assert.deepEqual(d.ingest(batch(0, 2), 2), []);
    assert.equal(d.view(P, M).state, "closed");
  });

  test("a run inside one batch trips via maxConsecutive even if the batch ends with a success", () => {
    const d = decider();
    const t = d.ingest(batch(1, 3, 0, 3), 0);
    assert.equal(t[0]?.reason, "consecutive-failures");
  });

  test("closed -> open on failure rate only with the minimum volume", () => {
    const d = decider(RATE_ONLY);
    // 4 failures / 8 total: rate 0.5 but volume 8 < 10.
    assert.deepEqual(d.ingest(batch(4, 4, 0, 1), 0), []);
    const t = d.ingest(batch(1, 1, 0, 1), 50);
    assert.equal(t.length, 1);
    assert.equal(t[0].reason, "failure-rate");
    assert.equal(t[0].to, "open");
  });

  test("the sliding window forgets old buckets", () => {
    const d = decider(RATE_ONLY);
    d.ingest(batch(0, 9, 0, 1), 0);
    // 1.5 windows later the 9 failures have left the window: 1 failure + 9 successes = 10%.
    assert.deepEqual(d.ingest(batch(9, 1, 0, 1), 1500), []);
    assert.equal(d.view(P, M).windowTotal, 10);
  });

  test("open -> half-open when the cool-down elapses, not before", () => {
    const d = decider();
    d.ingest(batch(0, 3), 0);
    assert.deepEqual(d.tick(99), []);
    assert.deepEqual(d.tick(100), [
      { pool: P, member: M, from: "open", to: "half-open", until: null, reason: "cool-down-elapsed" },
    ]);
  });

  test("half-open is decided within the response timeout: closed when no probe failed (probes lost to aborts or upgrades)", () => {
    const d = decider({}, 50);
    d.ingest(batch(0, 3), 0);
    d.tick(100);
    assert.equal(d.view(P, M).state, "half-open");
    assert.deepEqual(d.tick(149), []);
    assert.deepEqual(d.tick(150), [
      { pool: P, member: M, from: "half-open", to: "closed", until: null, reason: "probe-window-elapsed" },
    ]);
    assert.equal(d.view(P, M).reopens, 0);
  });

  test("a failed probe inside the half-open window re-opens it; the window restarts at the next half-open", () => {
    const d = decider({}, 50);
    d.ingest(batch(0, 3), 0);
    d.tick(100);
    assert.equal(d.ingest(batch(0, 1), 140)[0]?.to, "open");
    assert.deepEqual(d.tick(190), [], "open: the half-open window is not running");
    assert.equal(d.tick(340)[0]?.to, "half-open");
    assert.deepEqual(d.tick(389), []);
    assert.equal(d.tick(390)[0]?.reason, "probe-window-elapsed");
  });

  test("a member adopted half-open by a new leader is decided within the response timeout of the adoption", () => {
    const d = decider({}, 50);
    d.adopt(P, M, "half-open", 1, 1000);
    assert.deepEqual(d.tick(1049), []);
    assert.equal(d.tick(1050)[0]?.to, "closed");
  });

  test("outcomes arriving while open are ignored", () => {
    const d = decider();
    d.ingest(batch(0, 3), 0);
    assert.deepEqual(d.ingest(batch(50, 50), 10), []);
    assert.equal(d.view(P, M).state, "open");
  });

  test("half-open -> closed after enough successful probes (across batches)", () => {
    const d = decider();
    d.ingest(batch(0, 3), 0);
    d.tick(100);
    assert.deepEqual(d.ingest(batch(1, 0), 101), []);
    const t = d.ingest(batch(1, 0), 102);
    assert.deepEqual(t, [
      { pool: P, member: M, from: "half-open", to: "closed", until: null, reason: "probes-succeeded" },
    ]);
    assert.equal(d.view(P, M).reopens, 0);
  });

  test("half-open -> open on a failed probe, with a doubled cool-down, capped at maxOpenFor", () => {
    const d = decider();
    let now = 0;
    d.ingest(batch(0, 3), now);
    const cooldowns: number[] = [];
    let until = 100;
    for (let i = 0; i < 6; i++) {
      now = until;
      assert.equal(d.tick(now)[0]?.to, "half-open");
      const t = d.ingest(batch(0, 1), now);
      assert.equal(t[0].reason, "probe-failed");
      until = t[0].until as number;
      cooldowns.push(until - now);
    }
    assert.deepEqual(cooldowns, [200, 400, 800, 1000, 1000, 1000]);
    // Closing resets the backoff: the next trip starts from openFor again.
    d.tick(until);
    d.ingest(batch(2, 0), until);
    assert.equal(d.view(P, M).state, "closed");
    const t = d.ingest(batch(0, 3), until + 1);
    assert.equal((t[0].until as number) - (until + 1), 100);
  });

  test("forced open / closed ignore traffic; auto hands back to the rules", () => {
    const d = decider();
    assert.deepEqual(d.override(P, M, "open", 0), [
      { pool: P, member: M, from: "closed", to: "open", until: null, reason: "forced-open" },
    ]);
    assert.deepEqual(d.ingest(batch(100, 0), 1), []);
    assert.deepEqual(d.tick(1_000_000), [], "a forced open never cools down");
    assert.equal(d.override(P, M, "closed", 2)[0].reason, "forced-closed");
    assert.deepEqual(d.ingest(batch(0, 100), 3), [], "a forced closed never trips");
    assert.deepEqual(d.override(P, M, "auto", 4), [], "already closed: no transition");
    assert.equal(d.ingest(batch(0, 3), 5)[0].to, "open");
  });

  test("adopt seeds committed state with a full cool-down on the new leader's clock", () => {
    const d = decider();
    d.adopt(P, M, "open", 2, 5000);
    assert.equal(d.view(P, M).until, 5400);
    assert.equal(d.tick(5400)[0].to, "half-open");
  });

  test("the schema's breaker section is what the decider runs: defaults and units from one place", () => {
    const rules = poolSchema.parse({ breaker: { openFor: "2s", window: "30s", minRequests: 7 } }).breaker;
    assert.deepEqual(
      [rules.openFor, rules.maxOpenFor, rules.window, rules.minRequests, rules.consecutiveFailures],
      [2000, 60_000, 30_000, 7, 5],
    );
    const d = new BreakerDecider(rules, 30_000);
    for (let i = 0; i < 4; i++) assert.deepEqual(d.ingest(batch(0, 1, i + 1), i), []);
    const t = d.ingest(batch(0, 1, 5), 10);
    assert.deepEqual([t[0]?.to, t[0]?.until], ["open", 2010]);
  });

  test("bad breaker settings stop at the schema, naming the field", () => {
    const paths = (breaker: object) => {
      const r = poolSchema.safeParse({ breaker });
      assert.equal(r.success, false, JSON.stringify(breaker));
      return r.error?.issues.map((i) => i.path.join("."));
    };
    assert.deepEqual(paths({ failureRate: 2 }), ["breaker.failureRate"]);
    assert.deepEqual(paths({ failureRate: 0 }), ["breaker.failureRate"]);
    assert.deepEqual(paths({ consecutiveFailures: 0 }), ["breaker.consecutiveFailures"]);
    assert.deepEqual(paths({ openFor: "10s", maxOpenFor: "1s" }), ["breaker.maxOpenFor"]);
    assert.deepEqual(paths({ failureStatuses: [502, 700] }), ["breaker.failureStatuses.1"]);
    assert.deepEqual(paths({ minimumVolume: 3 }), ["breaker"], "the old renamed field is unknown");
  });

  test("randomised outcome streams never skip a state (seeded)", () => {
    const seed = testSeed(4242);
    const rnd = seededRandom(seed);
    const d = decider();
    const legal = new Set(["closed>open", "open>half-open", "half-open>closed", "half-open>open"]);
    let now = 0;
    let opens = 0;
    for (let i = 0; i < 2000; i++) {
      now += Math.floor(rnd() * 40);
      const f = rnd() < 0.4 ? Math.floor(rnd() * 3) : 0;
      const s = Math.floor(rnd() * 3);
      for (const t of d.ingest(batch(s, f, s > 0 ? 0 : f, f), now)) {
        assert.ok(
          legal.has(`${t.from}>${t.to}`),
          `illegal ${t.from}>${t.to} at step ${i} (${seedNote(seed)})`,
        );
        if (t.to === "open") {
          opens++;
          assert.ok(
            t.until !== null && t.until > now && t.until - now <= 1000,
            `cool-down within cap (${seedNote(seed)})`,
          );
        }
      }
    }
    assert.ok(opens > 0, `the stream tripped the breaker at least once (${seedNote(seed)})`);
  });
});

describe("OutcomeRecorder", () => {
  test("counts per member, classifies statuses and drains only active slots", () => {
    const r = new OutcomeRecorder({ failureStatuses: [503] });
    const a = r.slot("p", "a");
    const b = r.slot("p", "b");
    assert.equal(r.slot("p", "a"), a, "slots are stable");
    r.recordStatus(a, 200);
    r.recordStatus(a, 503);
    r.recordError(a, "timeout");
    r.recordStatus(a, 500);
    r.recordError(a, "connect");
    assert.deepEqual(r.drain().entries, [
      {
        pool: "p",
        member: "a",
        success: 2,
        failure: 3,
        consecutive: 1,
        maxConsecutive: 2,
        connectErrors: 1,
        resets: 0,
        timeouts: 1,
      },
    ]);
    assert.ok(b !== a);
    assert.deepEqual(r.drain().entries, [], "drained counters are cleared");
    r.recordError(a, "reset");
    assert.deepEqual(
      r.drain().entries[0],
      {
        pool: "p",
        member: "a",
        success: 0,
        failure: 1,
        consecutive: 2,
        maxConsecutive: 2,
        connectErrors: 0,
        resets: 1,
        timeouts: 0,
      },
      "the run carries across drains",
    );
  });

  test("grows past its initial capacity and bounds half-open probes", () => {
    const r = new OutcomeRecorder();
    const slots = Array.from({ length: 100 }, (_, i) => r.slot("p", `m${i}`));
    for (const s of slots) r.recordSuccess(s);
    assert.equal(r.drain().entries.length, 100);
    assert.equal(r.admitProbe(slots[5], 2), true);
    assert.equal(r.admitProbe(slots[5], 2), true);
    assert.equal(r.admitProbe(slots[5], 2), false);
    r.resetProbes(slots[5]);
    assert.equal(r.admitProbe(slots[5], 2), true);
  });

  test("recorder batches drive the decider end to end", () => {
    const r = new OutcomeRecorder();
    const d = decider({ consecutiveFailures: 5 });
    const s = r.slot("p", "x");
    for (let i = 0; i < 5; i++) r.recordStatus(s, 502);
    const t = d.ingest(r.drain(), 0);
    assert.equal(t[0]?.to, "open");
  });
});
