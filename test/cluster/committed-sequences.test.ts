// The committed apply path against fresh builds: seeded random sequences of real commands
// (drain, undrain, health, breaker, joins, leaves, weight and address changes) go through
// ClusterState and CommittedRouting, which reuse what a one-member change leaves alone
// (member inputs, snapshot members, the table, the id index). After every step each pool's
// snapshot must equal what a fresh CommittedRouting builds from the same committed state,
// table array for table array: instances that applied incrementally and instances that
// restored a snapshot must route every key alike. Flag-only steps must also keep the table,
// the unchanged member objects and the agent-key token the data plane skips its pass on.

import assert from "node:assert/strict";
import { test } from "node:test";
import { configSchema } from "../../config/file/schema.js";
import { ClusterState } from "../../config/state/cluster-state.js";
import { type CommandInput, encodeCommand } from "../../config/state/commands.js";
import { CommittedRouting } from "../../proxy/cluster/committed-routing.js";
import { sameAgentKeys } from "../../proxy/routing/pool-snapshot.js";
import type { PoolSnapshot } from "../../proxy/routing/types.js";
import { Maglev } from "../../ring/maglev.js";
import { RingHash } from "../../ring/ring-hash.js";
import { pick, seededRandom, testSeed } from "../support/prng.js";

const BASE_SEED = testSeed(16_161);

interface Static {
  id: string;
  address: string;
  weight: number;
}

function routingOf(algorithm: "ring" | "maglev", members: readonly Static[]) {
  const table = algorithm === "maglev" ? { tableSize: 2003 } : { pointsPerWeight: 16 };
  const c = configSchema.parse({
    pools: { p: { algorithm, ...table, members } },
    routes: [{ pool: "p", key: ["header:x-k"] }],
  });
  return { pools: c.pools, routes: c.routes };
}

function tableArrays(s: PoolSnapshot): number[][] {
  const t = s.table;
  if (t instanceof RingHash) return [[...t.points], [...t.owners]];
  if (t instanceof Maglev) return [[...t.table]];
  throw new Error(`unknown table ${t.algorithm}`);
}

function assertSame(inc: PoolSnapshot, fresh: PoolSnapshot, why: string): void {
  assert.deepEqual(inc.table.members, fresh.table.members, `${why}: table members`);
  assert.deepEqual(tableArrays(inc), tableArrays(fresh), `${why}: table arrays`);
  assert.deepEqual(inc.members, fresh.members, `${why}: members`);
  assert.deepEqual([...inc.eligible], [...fresh.eligible], `${why}: eligibility`);
  assert.deepEqual([...inc.byId], [...fresh.byId], `${why}: id index`);
  assert.equal(inc.ringVersion, fresh.ringVersion, `${why}: ring version`);
  for (let h = 0; h < 2 ** 32; h += 0x01000193) assert.equal(inc.table.lookup(h), fresh.table.lookup(h), why);
}

type Op = "drain" | "undrain" | "health" | "breaker" | "join" | "leave" | "weight" | "address";
const FLAG_OPS: readonly Op[] = ["drain", "undrain", "health", "breaker"];

function runSequence(seed: number, algorithm: "ring" | "maglev"): void {
  const rnd = seededRandom(seed);
  const state = new ClusterState();
  const rt = new CommittedRouting();
  let index = 0;
  let nextId = 0;
  let statics: Static[] = [];
  const join = () => {
    const i = nextId++;
    statics.push({ id: `m${String(i).padStart(3, "0")}`, address: `127.0.0.1:${10_000 + i}`, weight: 1 });
  };
  for (let i = 0, n = 5 + Math.floor(rnd() * 40); i < n; i++) join();
  const commit = (c: CommandInput, why: string) => {
    const change = state.apply(++index, encodeCommand(c));
    assert.ok(change.applied, `${why}: ${change.error}`);
    rt.apply(state.current, change.poolsChanged, change.routesChanged);
  };
  commit({ v: 1, type: "SetRouting", routing: routingOf(algorithm, statics) }, `seed ${seed} routing`);
  for (let step = 0; step < 50; step++) {
    const op = pick<Op>(rnd, ["drain", "undrain", "health", "breaker", "join", "leave", "weight", "address"]);
    const why = `seed ${seed} ${algorithm} step ${step} (${op})`;
    const before = rt.current().pools.get("p") as PoolSnapshot;
    const members = state.current.pools.p.members;
    const target = members[Math.floor(rnd() * members.length)].id;
    switch (op) {
      case "drain":
      case "undrain":
        commit({ v: 1, type: op === "drain" ? "Drain" : "Undrain", pool: "p", member: target }, why);
        break;
      case "health":
        commit(
          { v: 1, type: "SetHealth", pool: "p", health: [{ member: target, healthy: rnd() < 0.5 }] },
          why,
        );
        break;
      case "breaker": {
        const s = pick(rnd, ["open", "half-open", "closed"] as const);
        const open = s === "open";
        commit(
          {
            v: 1,
            type: "SetBreaker",
            pool: "p",
            member: target,
            state: s,
            since: step,
            until: open ? step + 5 : 0,
            trips: s === "closed" ? 0 : 1,
          },
          why,
        );
        break;
      }
      default: {
        const i = statics.findIndex((m) => m.id === target);
        if (op === "join") join();
        else if (op === "leave" && statics.length > 1) statics = statics.filter((_, k) => k !== i);
        else if (op === "weight") statics[i] = { ...statics[i], weight: 1 + Math.floor(rnd() * 3) };
        else if (op === "address") statics[i] = { ...statics[i], address: `127.0.0.2:${20_000 + step}` };
        commit({ v: 1, type: "SetMembers", pool: "p", source: "static", members: statics }, why);
      }
    }
    const inc = rt.current().pools.get("p") as PoolSnapshot;
    const fresh = new CommittedRouting()
      .apply(state.current, "all", true)
      .state.pools.get("p") as PoolSnapshot;
    assertSame(inc, fresh, why);
    if (FLAG_OPS.includes(op) && inc !== before) {
      assert.equal(inc.table, before.table, `${why}: a flag change keeps the table`);
      assert.ok(sameAgentKeys(before, inc), `${why}: a flag change keeps the agent-key token`);
      const j = inc.byId.get(target) as number;
      for (let k = 0; k < inc.members.length; k++)
        if (k !== j) assert.equal(inc.members[k], before.members[k], `${why}: member ${k} reused`);
    }
  }
}

for (const algorithm of ["ring", "maglev"] as const) {
  test(`${algorithm}: committed change sequences equal fresh builds (seeded from ${BASE_SEED})`, () => {
    for (let k = 0; k < 8; k++) runSequence(BASE_SEED + k, algorithm);
  });
}
