// A join or leave shifts the index of every member after it in id order (half the pool, on
// average): those members get new snapshot objects (their index is part of them), and so do
// members whose flags changed, but their address, "host:port" and agent key are the previous
// object's, not formatted again per
// reload (at 5,000 members that was ~110 KiB of strings and arrays per reload). Read off the
// address object: an input that carries an equal but new address object still gets the
// previous member's. And the result stays what a fresh build gives, field for field.

import assert from "node:assert/strict";
import { test } from "node:test";
import { configSchema, type PoolConfig } from "../../config/file/schema.js";
import { buildPoolSnapshot, updatePoolSnapshot } from "../../proxy/routing/pool-snapshot.js";
import type { MemberInput } from "../../proxy/routing/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(16_2015);

function settingsFor(o: Record<string, unknown>): PoolConfig {
  return configSchema.parse({ pools: { p: { members: [], ...o } }, routes: [{ pool: "p", key: ["ip"] }] })
    .pools.p;
}

function input(id: string, port: number, draining = false): MemberInput {
  return { id, address: Object.freeze({ host: "127.0.0.1", port }), weight: 1, draining };
}

for (const algorithm of ["ring", "maglev"] as const) {
  test(`${algorithm}: members moved by a join or leave keep their address, host:port and agent key`, () => {
    const rnd = seededRandom(SEED);
    const settings = settingsFor({ algorithm });
    const ids = Array.from({ length: 60 }, (_, i) => `m${String(i).padStart(3, "0")}`);
    const ports = ids.map(() => 1024 + Math.floor(rnd() * 60_000));
    const before = ids.map((id, i) => input(id, ports[i]));
    const prev = buildPoolSnapshot({ name: "p", settings, members: before, ringVersion: 1 });
    // A joiner first in id order, and a leaver at a random place: every input object new
    // (as a full load makes them), one of the moved members also drained.
    const leaver = 1 + Math.floor(rnd() * 50);
    const drained = leaver + 3;
    const after = [input("a-joiner", 80)];
    for (let i = 0; i < ids.length; i++) if (i !== leaver) after.push(input(ids[i], ports[i], i === drained));
    const next = updatePoolSnapshot(prev, { name: "p", settings, members: after, ringVersion: 2 });
    const fresh = buildPoolSnapshot({ name: "p", settings, members: after, ringVersion: 2 });
    assert.deepEqual(next.members, fresh.members, `members equal a fresh build ${seedNote(SEED)}`);
    let moved = 0;
    for (const m of next.members) {
      const j = prev.byId.get(m.id);
      if (j === undefined) continue;
      const old = prev.members[j];
      if (m.index !== old.index) moved++;
      assert.equal(m.address, old.address, `${m.id}: the previous address object ${seedNote(SEED)}`);
      assert.equal(m.hostPort, old.hostPort);
      assert.equal(m.agentKey, old.agentKey);
      assert.equal(m.draining, ids.indexOf(m.id) === drained, `${m.id}: its own flags ${seedNote(SEED)}`);
    }
    // Those before the leaver moved one up (the joiner comes first); those after it did not.
    assert.equal(moved, leaver, `members moved ${seedNote(SEED)}`);
  });
}

test("a moved member whose address changed gets the new one (and a new agent key)", () => {
  const settings = settingsFor({ algorithm: "ring" });
  const prev = buildPoolSnapshot({
    name: "p",
    settings,
    members: [input("m1", 1001), input("m2", 1002)],
    ringVersion: 1,
  });
  const members = [input("m0", 1000), input("m1", 1001), input("m2", 2002)];
  const next = updatePoolSnapshot(prev, { name: "p", settings, members, ringVersion: 2 });
  assert.deepEqual(next.members, buildPoolSnapshot({ name: "p", settings, members, ringVersion: 2 }).members);
  assert.equal(next.members[2].hostPort, "127.0.0.1:2002");
  assert.notEqual(next.members[2].agentKey, prev.members[1].agentKey);
  assert.equal(next.members[1].address, prev.members[0].address);
});
