// Incremental pool snapshots (updatePoolSnapshot) against fresh builds: over seeded random
// sequences of changes (drain, undrain, health, breaker, address, weight, join, leave, table
// and non-table settings) the incremental result equals buildPoolSnapshot of the same input,
// field for field and table array for table array, for ring hash and Maglev, with and without
// bounded load; and flag-only changes really share the previous table (no rebuild).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { configSchema, type PoolConfig } from "../../config/file/schema.js";
import { chooseMember } from "../../proxy/routing/member-choice.js";
import { buildPoolSnapshot, sameAgentKeys, updatePoolSnapshot } from "../../proxy/routing/pool-snapshot.js";
import type { MemberInput, PoolSnapshot } from "../../proxy/routing/types.js";
import { Maglev } from "../../ring/maglev.js";
import { RingHash } from "../../ring/ring-hash.js";
import type { HashTable } from "../../ring/types.js";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";

const BASE_SEED = testSeed(16_016);

function settingsFor(o: Record<string, unknown>): PoolConfig {
  return configSchema.parse({ pools: { p: { members: [], ...o } }, routes: [{ pool: "p", key: ["ip"] }] })
    .pools.p;
}

function tableArrays(t: HashTable): unknown {
  const inner = "inner" in t ? (t as unknown as { inner: HashTable }).inner : t;
  if (inner instanceof RingHash) return { points: [...inner.points], owners: [...inner.owners] };
  if (inner instanceof Maglev) return { table: [...inner.table] };
  throw new Error(`unknown table ${inner.algorithm}`);
}

function assertSame(inc: PoolSnapshot, fresh: PoolSnapshot, why: string): void {
  assert.equal(inc.table.algorithm, fresh.table.algorithm, why);
  assert.deepEqual(inc.table.members, fresh.table.members, `${why}: table members`);
  assert.deepEqual(tableArrays(inc.table), tableArrays(fresh.table), `${why}: table arrays`);
  assert.equal(inc.bounded?.balanceFactor, fresh.bounded?.balanceFactor, `${why}: bounded load`);
  assert.deepEqual(inc.members, fresh.members, `${why}: members`);
  assert.deepEqual([...inc.eligible], [...fresh.eligible], `${why}: eligibility`);
  assert.deepEqual([...inc.byId], [...fresh.byId], `${why}: id index`);
  assert.equal(inc.settings, fresh.settings, `${why}: settings`);
  assert.equal(inc.ringVersion, fresh.ringVersion, `${why}: ring version`);
  assert.deepEqual([...inc.retryMethods], [...fresh.retryMethods], `${why}: retry methods`);
  const r = seededRandom(BASE_SEED ^ 7);
  for (let i = 0; i < 64; i++) {
    const h = Math.floor(r() * 2 ** 32);
    assert.equal(
      chooseMember(inc, h, null, 0),
      chooseMember(fresh, h, null, 0),
      `${why}: choice for hash ${h}`,
    );
  }
}

type Op = "drain" | "health" | "breaker" | "address" | "weight" | "join" | "leave" | "retry" | "table";
const FLAG_OPS: readonly Op[] = ["drain", "health", "breaker", "address", "retry"];

function runSequence(seed: number, algorithm: "ring" | "maglev", balanced: boolean): void {
  const rnd = seededRandom(seed);
  const table = (): Record<string, unknown> =>
    algorithm === "maglev"
      ? { algorithm, tableSize: pick(rnd, [2003, 4001]) }
      : { algorithm, pointsPerWeight: pick(rnd, [16, 24]) };
  let tableOpts = table();
  let retry = ["GET"];
  const settingsNow = () =>
    settingsFor({
      ...tableOpts,
      ...(balanced ? { balanceFactor: 1.25 } : {}),
      retry: { methods: retry },
    });
  let settings = settingsNow();
  let members: MemberInput[] = [];
  let nextId = 0;
  const join = () => {
    members.push({ id: `m${nextId++}`, address: { host: "127.0.0.1", port: 10_000 + nextId }, weight: 1 });
  };
  const count = 5 + Math.floor(rnd() * 40);
  for (let i = 0; i < count; i++) join();
  let version = 1;
  let prev = buildPoolSnapshot({ name: "p", settings, members, ringVersion: version });
  for (let step = 0; step < 60; step++) {
    const op = pick<Op>(rnd, [
      "drain",
      "health",
      "breaker",
      "address",
      "weight",
      "join",
      "leave",
      "retry",
      "table",
    ]);
    const i = Math.floor(rnd() * members.length);
    const m = members[i];
    switch (op) {
      case "drain":
        members[i] = { ...m, draining: m.draining !== true };
        break;
      case "health":
        members[i] = { ...m, healthy: m.healthy === false };
        break;
      case "breaker": {
        const s = pick(rnd, ["open", "half", "closed"]);
        members[i] = { ...m, breakerOpen: s === "open", breakerHalfOpen: s === "half" };
        break;
      }
      case "address":
        members[i] = { ...m, address: { host: "127.0.0.2", port: m.address.port + 1 } };
        break;
      case "weight":
        members[i] = { ...m, weight: 1 + Math.floor(rnd() * 3) };
        break;
      case "join":
        join();
        break;
      case "leave":
        if (members.length > 1) members = members.filter((_, k) => k !== i);
        break;
      case "retry":
        retry = retry.length === 1 ? ["GET", "PUT"] : ["GET"];
        settings = settingsNow();
        break;
      case "table":
        tableOpts = table();
        settings = settingsNow();
        break;
    }
    // Members arrive in any order (discovery order), or sorted by id as the committed state
    // lists them (the index-aligned fast path).
    const sorted = rnd() < 0.5;
    const input = {
      name: "p",
      settings,
      members: sorted
        ? [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
        : [...members].sort(() => rnd() - 0.5),
      ringVersion: ++version,
    };
    const why = `${seedNote(BASE_SEED)} (+${seed - BASE_SEED}) ${algorithm}${balanced ? "+bounded" : ""} step ${step} (${op})`;
    const inc = updatePoolSnapshot(prev, input);
    assertSame(inc, buildPoolSnapshot(input), why);
    if (FLAG_OPS.includes(op)) assert.equal(inc.table, prev.table, `${why}: a flag change shares the table`);
    // The data plane retires keep-alive agents only when this says the keys changed.
    const keys = (s: PoolSnapshot) => s.members.map((x) => x.agentKey);
    if (sameAgentKeys(prev, inc)) assert.deepEqual(keys(inc), keys(prev), `${why}: same agent keys`);
    else if (inc.table === prev.table && op !== "address")
      assert.fail(`${why}: a ${op} change kept the table but lost the agent-key token`);
    if (op === "weight" && inc.table.members[inc.byId.get(m.id) as number].weight !== m.weight)
      assert.notEqual(inc.table, prev.table, `${why}: a weight change rebuilds`);
    prev = inc;
  }
}

describe("updatePoolSnapshot equals a fresh build", () => {
  for (const algorithm of ["ring", "maglev"] as const) {
    for (const balanced of [false, true]) {
      test(`${algorithm}${balanced ? " with bounded load" : ""}: random change sequences (seeded)`, () => {
        for (let k = 0; k < 12; k++) runSequence(BASE_SEED + k, algorithm, balanced);
      });
    }
  }

  test("unchanged members are reused; a changed one is not", () => {
    const settings = settingsFor({ algorithm: "ring", pointsPerWeight: 8 });
    const members: MemberInput[] = ["a", "b", "c"].map((id, i) => ({
      id,
      address: { host: "127.0.0.1", port: 9000 + i },
      weight: 1,
    }));
    const s1 = buildPoolSnapshot({ name: "p", settings, members, ringVersion: 1 });
    const s2 = updatePoolSnapshot(s1, {
      name: "p",
      settings,
      members: members.map((m) => (m.id === "b" ? { ...m, draining: true } : m)),
      ringVersion: 2,
    });
    const ib = s1.byId.get("b") as number;
    for (let i = 0; i < 3; i++) {
      if (i === ib) assert.notEqual(s2.members[i], s1.members[i]);
      else assert.equal(s2.members[i], s1.members[i]);
    }
    assert.equal(s2.eligible[ib], 0);
    assert.equal(s1.eligible[ib], 1, "the old snapshot is untouched");
  });

  test("a join or leave reuses the member objects whose index did not change, in id order or not", () => {
    const settings = settingsFor({ algorithm: "ring", pointsPerWeight: 8 });
    const member = (id: string, i: number): MemberInput => ({
      id,
      address: { host: "127.0.0.1", port: 9000 + i },
      weight: 1,
    });
    const ids = ["a", "c", "e", "g"];
    const s1 = buildPoolSnapshot({ name: "p", settings, members: ids.map(member), ringVersion: 1 });
    for (const [what, next] of [
      ["join of d, in id order", [...ids.slice(0, 2), "d", ...ids.slice(2)]],
      ["join of d, out of order", ["d", ...ids]],
      ["leave of e", ["a", "c", "g"]],
    ] as const) {
      const inputs = next.map((id) => member(id, ids.indexOf(id) < 0 ? 99 : ids.indexOf(id)));
      const s2 = updatePoolSnapshot(s1, { name: "p", settings, members: inputs, ringVersion: 2 });
      assertSame(s2, buildPoolSnapshot({ name: "p", settings, members: inputs, ringVersion: 2 }), what);
      // a and c keep index 0 and 1: the same objects; the others moved or are new.
      assert.equal(s2.members[0], s1.members[0], `${what}: a reused`);
      assert.equal(s2.members[1], s1.members[1], `${what}: c reused`);
      assert.notEqual(s2.members[2], s1.members[2], `${what}: index 2 is another member now`);
    }
  });
});
