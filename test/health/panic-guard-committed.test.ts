// guardCommitted is the health controller's allocation-lean form of guardHealth: over a pool's
// committed members it must give exactly what guardHealth gives (panic, counts, suppressed
// members) and propose exactly the members whose guarded health differs from the committed
// one, in pool order. Seeded pools of every mix of committed and observed health, at
// thresholds around the panic edge.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { guardCommitted, guardHealth } from "../../health/controller/panic-guard.js";
import { pick, seededRandom, testSeed } from "../support/prng.js";

describe("guardCommitted", () => {
  for (const base of [31, 32, 33]) {
    test(`agrees with guardHealth over seeded pools (seeded ${base})`, () => {
      const seed = testSeed(base);
      const rnd = seededRandom(seed);
      let panics = 0;
      let changed = 0;
      for (let round = 0; round < 400; round++) {
        const n = Math.floor(rnd() * 40);
        const healthyShare = rnd();
        const flipShare = rnd();
        const members = Array.from({ length: n }, (_, i) => ({ id: `m${i}`, healthy: rnd() < healthyShare }));
        const observed = members.map((m) => (rnd() < flipShare ? !m.healthy : m.healthy));
        const threshold = pick(rnd, [0, 0.25, 0.5, 0.7, 1]);
        const at = `round ${round}, ${n} members, threshold ${threshold} (seed=${seed}, replay with E2E_SEED=${seed})`;
        const want = guardHealth(
          members.map((m, i) => ({ id: m.id, committed: m.healthy, observed: observed[i] })),
          threshold,
        );
        const got = guardCommitted(members, (i) => observed[i], threshold);
        assert.equal(got.panic, want.panic, at);
        assert.equal(got.wouldBeHealthy, want.wouldBeHealthy, at);
        assert.equal(got.total, want.total, at);
        assert.deepEqual(got.suppressed, want.suppressed, at);
        const wantChanges = members
          .map((m, i) => ({ member: m.id, healthy: want.health[i] }))
          .filter((c, i) => c.healthy !== members[i].healthy);
        assert.deepEqual(got.changes, wantChanges, at);
        if (got.panic) panics++;
        changed += got.changes.length;
      }
      // The rounds covered both sides of the panic edge and proposed changes.
      assert.ok(panics > 20 && panics < 380, `${panics} panics in 400 rounds (seed=${seed})`);
      assert.ok(changed > 100, `only ${changed} changes (seed=${seed})`);
    });
  }
});
