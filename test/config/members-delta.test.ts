// The load worker's member deltas (config/file/members-delta.ts): a delta applied to the
// config it was computed against gives the new config exactly, shares the unchanged member
// objects, and a delta applied to any other config is refused, never half-applied.

import assert from "node:assert/strict";
import { test } from "node:test";
import { applyMembersDelta, membersDelta } from "../../config/file/members-delta.js";
import { configSchema, type ShardgateConfig } from "../../config/file/schema.js";
import { seededRandom, testSeed } from "../support/prng.js";

function config(pools: Record<string, number[]>): ShardgateConfig {
  const raw: Record<string, unknown> = {};
  for (const [name, ports] of Object.entries(pools))
    raw[name] = { members: ports.map((p) => ({ id: `m${p}`, address: `127.0.0.1:${p}` })) };
  return configSchema.parse({ pools: raw, routes: [{ pool: Object.keys(pools)[0], key: ["ip"] }] });
}

test("a delta rebuilds the new config exactly over seeded random edits", () => {
  const seed = testSeed(16_0616);
  const rnd = seededRandom(seed);
  let ports = Array.from({ length: 200 }, (_, i) => 1000 + i);
  let prev = config({ big: ports, constructor: ports.slice(0, 70), tiny: [5] });
  for (let step = 0; step < 50; step++) {
    const why = `seed ${seed} step ${step}`;
    ports = ports.slice();
    const at = Math.floor(rnd() * ports.length);
    if (rnd() < 0.5) ports.splice(at, 0, 5000 + step);
    else ports.splice(at, 1 + Math.floor(rnd() * 4));
    const next = config({ big: ports, constructor: ports.slice(0, 70), tiny: [5, 6 + step] });
    const d = membersDelta(prev, next);
    assert.ok(d !== null, why);
    assert.ok(d.splices.length >= 1, why);
    const r = applyMembersDelta(prev, d);
    assert.ok(r.ok, why);
    assert.deepEqual(r.config, next, why);
    if (at > 0)
      assert.equal(r.config.pools.big.members[0], prev.pools.big.members[0], `${why}: identity kept`);
    prev = r.config;
  }
});

test("a delta against another config is refused", () => {
  const a = config({ big: Array.from({ length: 100 }, (_, i) => 1000 + i) });
  const b = config({ big: Array.from({ length: 101 }, (_, i) => 1000 + i) });
  const d = membersDelta(a, b);
  assert.ok(d !== null);
  const short = config({ big: Array.from({ length: 10 }, (_, i) => 1000 + i) });
  const r = applyMembersDelta(short, d);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.error : "", /past its 10 members/);
  const other = config({ other: [1] });
  const r2 = applyMembersDelta(other, d);
  assert.match(!r2.ok ? r2.error : "", /unknown on one side/);
  assert.equal(membersDelta(a, a)?.splices[0].add.length, 0, "an unchanged pool is an empty splice");
});
