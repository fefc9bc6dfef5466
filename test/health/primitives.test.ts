// Unit tests for the small building blocks: token bucket, backoff, seeded PRNG, and the
// double's Go-duration and filter parsers.

import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay } from "../../health/backoff.js";
import { TokenBucket } from "../../health/token-bucket.js";
import { parseGoDuration } from "../support/consul/duration.js";
import { compileFilter, FilterError, type HealthEntryLike } from "../support/consul/filter.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

test("token bucket: burst, then the sustained rate, on an injected clock", () => {
  let now = 0;
  const b = new TokenBucket(4, 2, () => now);
  assert.equal(b.take(), 0);
  assert.equal(b.take(), 0);
  assert.equal(b.take(), 250, "empty: wait 1/rate");
  now = 250;
  assert.equal(b.take(), 0);
  now = 10_000;
  assert.equal(b.take(), 0);
  assert.equal(b.take(), 0);
  assert.ok(b.take() > 0, "refill is capped at the burst");
  assert.throws(() => new TokenBucket(0, 1, () => 0), /ratePerSec/);
  assert.throws(() => new TokenBucket(1, 0.5, () => 0), /burst/);
});

test("backoff grows exponentially with jitter in [exp/2, exp] and stays under the cap", () => {
  const seed = testSeed(11);
  const r = seededRandom(seed);
  const opts = { baseMs: 100, maxMs: 1000 };
  for (let attempt = 1; attempt <= 12; attempt++) {
    const exp = Math.min(1000, 100 * 2 ** (attempt - 1));
    const d = backoffDelay(attempt, opts, r);
    assert.ok(
      d >= exp / 2 && d <= exp,
      `attempt ${attempt}: ${d} outside [${exp / 2}, ${exp}] (${seedNote(seed)})`,
    );
  }
});

test("seeded PRNG is deterministic per seed and in [0, 1)", () => {
  // Fixed on purpose: this checks the generator itself for given seeds.
  const a = seededRandom(3);
  const b = seededRandom(3);
  const c = seededRandom(4);
  const xs = Array.from({ length: 100 }, () => a());
  assert.deepEqual(
    xs,
    Array.from({ length: 100 }, () => b()),
  );
  assert.notDeepEqual(
    xs,
    Array.from({ length: 100 }, () => c()),
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});

test("Go durations parse like time.ParseDuration", () => {
  assert.equal(parseGoDuration("10s"), 10_000);
  assert.equal(parseGoDuration("1m30s"), 90_000);
  assert.equal(parseGoDuration("250ms"), 250);
  assert.equal(parseGoDuration("1.5h"), 5_400_000);
  assert.equal(parseGoDuration("0"), 0);
  for (const bad of ["", "10", "ten", "5x", "s", "1m-3s", "."]) {
    assert.equal(parseGoDuration(bad), undefined, `"${bad}" must be invalid`);
  }
});

test("filter subset: selectors, operators, boolean logic, and errors", () => {
  const e: HealthEntryLike = {
    Node: { Node: "n1", Address: "10.0.0.1", Datacenter: "dc1", Meta: {} },
    Service: { ID: "web-1", Service: "web", Address: "", Port: 80, Tags: ["a", "b"], Meta: { shard: "x" } },
    Checks: [{ Status: "passing", CheckID: "serfHealth" }],
  };
  const yes = [
    'Service.Meta.shard == "x"',
    'Service.Tags contains "a"',
    '"b" in Service.Tags',
    'Service.Tags not contains "z"',
    "Service.Port == 80",
    'Service.Meta.shard == "x" and not (Service.ID == "web-2" or Node.Node != "n1")',
    "Service.Address is empty",
    'Service.ID matches "^web-[0-9]+$"',
    'Checks.Status == "passing"',
  ];
  for (const f of yes) assert.equal(compileFilter(f)(e), true, f);
  assert.equal(compileFilter('Service.Meta.shard != "x"')(e), false);
  for (const bad of [
    "",
    "Service.Meta.shard ==",
    "Service.Bogus == 1",
    '(Service.ID == "a"',
    "Service.ID ~ 1",
  ]) {
    assert.throws(() => compileFilter(bad), FilterError, `"${bad}" must not parse`);
  }
});
