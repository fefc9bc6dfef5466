// Half-open admission in member choice: a half-open member takes at most the probes its
// pool's ProbeGate admits; once they are spent its keys walk on to the next member, and
// explaining a route never spends a probe.

import assert from "node:assert/strict";
import { test } from "node:test";
import { poolSchema } from "../../config/schema.js";
import { chooseMember, explainChoice } from "../../proxy/routing/member-choice.js";
import { buildPoolSnapshot } from "../../proxy/routing/pool-snapshot.js";
import type { MemberInput, ProbeGate } from "../../proxy/routing/types.js";
import { seededRandom } from "../support/prng.js";

const SEED = 0x5eed;

class CountingGate implements ProbeGate {
  admitted = 0;
  constructor(private readonly limit: number) {}
  admit(_index: number): boolean {
    if (this.admitted >= this.limit) return false;
    this.admitted++;
    return true;
  }
}

test("a half-open member admits the gate's probes, then its keys go to the next member", () => {
  const settings = poolSchema.parse({});
  const members: MemberInput[] = ["m1", "m2", "m3"].map((id, i) => ({
    id,
    address: { host: "127.0.0.1", port: 9000 + i },
    weight: 1,
    breakerHalfOpen: id === "m2",
  }));
  const gate = new CountingGate(2);
  const snap = buildPoolSnapshot({ name: "p", settings, members, ringVersion: 7, probe: gate });
  const m2 = snap.byId.get("m2") as number;
  assert.equal(snap.eligible[m2], 2);
  assert.equal(snap.members[m2].breakerHalfOpen, true);
  const rand = seededRandom(SEED);
  let key = -1;
  for (let i = 0; i < 1000 && key < 0; i++) {
    const h = Math.floor(rand() * 2 ** 32) >>> 0;
    if (snap.table.lookup(h) === m2) key = h;
  }
  assert.ok(key >= 0, `no key owned by m2 among 1000 (seed ${SEED})`);
  const explained = explainChoice(snap, key, null, 0);
  assert.equal(explained.owner, "m2");
  assert.notEqual(explained.member, "m2");
  assert.deepEqual(explained.skipped, [{ id: "m2", reason: "breaker_half_open" }]);
  assert.equal(gate.admitted, 0, "explain spends no probe");
  assert.equal(chooseMember(snap, key, null, 0), m2, "first probe");
  assert.equal(chooseMember(snap, key, null, 0), m2, "second probe");
  const third = chooseMember(snap, key, null, 0);
  assert.notEqual(third, m2, "probes spent: walk on");
  assert.ok(third >= 0);
  assert.equal(gate.admitted, 2);
  const noGate = buildPoolSnapshot({ name: "p", settings, members, ringVersion: 7 });
  assert.notEqual(chooseMember(noGate, key, null, 0), m2, "no gate: half-open takes nothing");
});
