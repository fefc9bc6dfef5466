// GET /admin/ring's model of a pool's table (what the dashboard draws): for ring hash, arcs
// that cover [0, 2^32) exactly, in order, whose owner is the table's lookup() at each arc's
// ends and at seeded points inside, with shares summing to 1; for Maglev, each member's share
// of the lookup table counted directly. Seeded; the seed is in every message.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { configSchema } from "../../config/file/schema.js";
import { ringView } from "../../proxy/app/ring-view.js";
import { buildRoutingState } from "../../proxy/routing/routing-state.js";
import { seededRandom, testSeed } from "../support/prng.js";

const SEED = testSeed(1405);
const SPACE = 2 ** 32;

function state(algorithm: "ring" | "maglev", n: number) {
  const members = Array.from({ length: n }, (_, i) => ({
    id: `m${i + 1}`,
    address: `10.0.0.${i + 1}:80`,
    weight: 1 + (i % 3),
  }));
  const config = configSchema.parse({
    pools: { p: { algorithm, members } },
    routes: [{ match: { pathPrefix: "/" }, pool: "p", key: ["header:x"] }],
  });
  return buildRoutingState({ pools: config.pools, routes: config.routes, ringVersion: 7 });
}

describe("ring view for the dashboard", () => {
  test("ring hash: arcs tile the hash space and agree with lookup()", () => {
    const s = state("ring", 5);
    const r = ringView(s, "p");
    assert.ok(r.ok);
    const v = r.value;
    const arcs = v.arcs ?? [];
    assert.ok(arcs.length > 5, `arcs: ${arcs.length}`);
    assert.equal(arcs[0][0], 0);
    assert.equal(arcs[arcs.length - 1][1], SPACE);
    for (let i = 1; i < arcs.length; i++)
      assert.equal(arcs[i][0], arcs[i - 1][1], `arc ${i} starts where ${i - 1} ends`);
    const table = s.pools.get("p")?.table;
    assert.ok(table !== undefined);
    const random = seededRandom(SEED);
    for (const [start, end, owner] of arcs) {
      const probes = [start, end - 1, start + Math.floor(random() * (end - start))];
      for (const h of probes)
        assert.equal(table.lookup(h >>> 0), owner, `hash ${h} in [${start}, ${end}) (seed ${SEED})`);
    }
    const total = v.members.reduce((x, m) => x + m.share, 0);
    assert.ok(Math.abs(total - 1) < 0.001, `shares sum to 1: ${total}`);
    assert.deepEqual(
      v.members.map((m) => m.id),
      ["m1", "m2", "m3", "m4", "m5"],
    );
  });

  test("maglev: shares are the members' table counts; no arcs", () => {
    const s = state("maglev", 4);
    const r = ringView(s, "p");
    assert.ok(r.ok);
    assert.equal(r.value.arcs, null);
    const table = s.pools.get("p")?.table as unknown as { table: Uint32Array; members: unknown[] };
    const counts = new Array(table.members.length).fill(0);
    for (const o of table.table) counts[o]++;
    assert.equal(r.value.size, table.table.length);
    r.value.members.forEach((m, i) => {
      assert.ok(Math.abs(m.share - counts[i] / table.table.length) < 1e-4, `${m.id}: ${m.share}`);
    });
  });

  test("an unknown pool is a coded 404", () => {
    const r = ringView(state("ring", 2), "nope");
    assert.ok(!r.ok);
    assert.equal(r.err.status, 404);
    assert.equal(r.err.error, "unknown_pool");
  });

  test("a large ring is drawn as coarse sectors that still tile the space; shares stay exact", () => {
    const s = state("ring", 60);
    const r = ringView(s, "p");
    assert.ok(r.ok);
    const arcs = r.value.arcs ?? [];
    assert.equal(r.value.coarse, true);
    assert.ok(arcs.length <= 1_440, `at most one arc per sector: ${arcs.length}`);
    assert.equal(arcs[0][0], 0);
    assert.equal(arcs[arcs.length - 1][1], SPACE);
    for (let i = 1; i < arcs.length; i++) assert.equal(arcs[i][0], arcs[i - 1][1]);
    const total = r.value.members.reduce((x, m) => x + m.share, 0);
    assert.ok(Math.abs(total - 1) < 0.001, `shares sum to 1: ${total}`);
    const small = ringView(state("ring", 5), "p");
    assert.ok(small.ok);
    assert.equal(small.value.coarse, false);
  });
});
