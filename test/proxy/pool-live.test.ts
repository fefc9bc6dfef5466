// Live counters survive snapshot swaps: in-flight counts and local skips carry over by
// member id, and a request started on an old snapshot releases against the new one.

import assert from "node:assert/strict";
import { test } from "node:test";
import { configSchema } from "../../config/file/schema.js";
import { chooseMember, explainChoice } from "../../proxy/routing/member-choice.js";
import { LiveBook } from "../../proxy/routing/pool-live.js";
import { buildPoolSnapshot, updatePoolSnapshot } from "../../proxy/routing/pool-snapshot.js";
import type { PoolSnapshot } from "../../proxy/routing/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const PASS_SEED = testSeed(0x9a55);

const settings = configSchema.parse({
  pools: { p: { members: [], balanceFactor: 1.25 } },
  routes: [{ pool: "p", key: ["ip"] }],
}).pools.p;

function snap(ids: string[], version: number, flags: Record<string, { healthy?: boolean }> = {}) {
  return buildPoolSnapshot({
    name: "p",
    settings,
    ringVersion: version,
    members: ids.map((id, i) => ({
      id,
      address: { host: "127.0.0.1", port: 9000 + i },
      weight: 1,
      ...flags[id],
    })),
  });
}

test("counts carry over by id when the pool's snapshot is replaced, whatever the versions", () => {
  const book = new LiveBook();
  const s1 = snap(["a", "b", "c"], 5);
  const live = book.for(s1);
  const ib = s1.byId.get("b") as number;
  const epoch = live.acquire("b", s1, ib);
  assert.equal(live.acquire("b", s1, ib), epoch);
  live.skip("c", s1, s1.byId.get("c") as number, 1000);
  // A reload that restarts versions at 1 and adds a member.
  const s2 = snap(["d", "c", "b", "a"], 1);
  assert.equal(book.for(s2), live);
  assert.equal(live.snapshot, s2);
  assert.equal(live.inFlight[s2.byId.get("b") as number], 2);
  assert.equal(live.totalInFlight, 2);
  assert.equal(live.skipUntil[s2.byId.get("c") as number], 1000);
  // The request started on s1 releases against s2.
  live.release("b", s1, ib, epoch);
  assert.equal(live.inFlight[s2.byId.get("b") as number], 1);
  assert.equal(live.totalInFlight, 1);
  // A member that left is forgotten; releasing it is harmless.
  const s3 = snap(["a", "c", "d"], 2);
  book.for(s3);
  live.release("b", s2, s2.byId.get("b") as number, epoch);
  assert.equal(live.totalInFlight, 0);
  // A retry still walking s2 (its request's snapshot) takes its slot on s3's index for the id.
  live.acquire("a", s2, s2.byId.get("a") as number);
  assert.equal(live.inFlight[s3.byId.get("a") as number], 1);
  assert.equal(live.totalInFlight, 1);
  live.acquire("b", s2, s2.byId.get("b") as number);
  assert.equal(live.totalInFlight, 1, "a member that left takes no slot");
});

test("chooseMember honours local skips until their deadline, and explain names them", () => {
  const book = new LiveBook();
  const s = snap(["a", "b", "c"], 1);
  const live = book.for(s);
  const hash = 12345;
  const owner = s.table.lookup(hash);
  assert.equal(chooseMember(s, hash, live, 0), owner);
  live.skip(s.members[owner].id, s, owner, 500);
  const next = chooseMember(s, hash, live, 100);
  assert.notEqual(next, owner);
  const ex = explainChoice(s, hash, live, 100);
  assert.deepEqual(ex.skipped, [{ id: s.members[owner].id, reason: "refused_locally" }]);
  assert.equal(ex.member, s.members[next].id);
  assert.equal(chooseMember(s, hash, live, 600), owner, "the skip window ended");
});

test(`passUntil is the mask folded into skipUntil across skips, flag changes and membership changes (seed ${PASS_SEED})`, () => {
  const rand = seededRandom(PASS_SEED);
  const flagsOf = (ids: string[]) =>
    Object.fromEntries(
      ids.map((id) => [
        id,
        {
          healthy: rand() > 0.2,
          draining: rand() < 0.15,
          breakerOpen: rand() < 0.1,
          breakerHalfOpen: rand() < 0.15,
        },
      ]),
    );
  const build = (ids: string[], version: number, prev: PoolSnapshot | null) => {
    const flags = flagsOf(ids);
    const input = {
      name: "p",
      settings,
      ringVersion: version,
      members: ids.map((id, i) => ({
        id,
        address: { host: "127.0.0.1", port: 9000 + i },
        weight: 1,
        ...flags[id],
      })),
    };
    return prev === null ? buildPoolSnapshot(input) : updatePoolSnapshot(prev, input);
  };
  let ids = Array.from({ length: 30 }, (_, i) => `m${i}`);
  let s = build(ids, 1, null);
  const book = new LiveBook();
  const live = book.for(s);
  let flagOnly = 0;
  for (let step = 0; step < 300; step++) {
    const r = rand();
    if (r < 0.5) {
      const i = Math.floor(rand() * s.members.length);
      live.skip(s.members[i].id, s, i, Math.floor(rand() * 2000));
    } else {
      // Flags only (the same ids: the id index is shared), or a member joins or leaves.
      if (r >= 0.8) {
        if (rand() < 0.5 && ids.length > 2) ids = ids.filter((_, k) => k !== Math.floor(rand() * ids.length));
        else ids = [...ids, `j${step}`];
      }
      const next = build(ids, step + 2, s);
      if (next.byId === s.byId) flagOnly++;
      s = next;
      book.for(s);
    }
    for (let i = 0; i < s.members.length; i++) {
      const want = s.eligible[i] === 1 ? live.skipUntil[i] : Number.POSITIVE_INFINITY;
      assert.equal(
        live.passUntil[i],
        want,
        `step ${step}, member ${s.members[i].id} (${seedNote(PASS_SEED)})`,
      );
    }
    for (let q = 0; q < 20; q++) {
      const hash = Math.floor(rand() * 2 ** 32);
      const now = Math.floor(rand() * 2000);
      const owner = s.table.lookup(hash);
      const ownerMay = s.eligible[owner] === 1 && !(live.skipUntil[owner] > now);
      if (ownerMay) assert.equal(chooseMember(s, hash, live, now), owner, `step ${step}, hash ${hash}`);
    }
  }
  assert.ok(flagOnly > 20, `${flagOnly} flag-only changes (the id index shared)`);
});

test("in-flight counts are kept while the pool has bounded load, from zero when a change turns it on", () => {
  const plain = configSchema.parse({
    pools: { p: { members: [] } },
    routes: [{ pool: "p", key: ["ip"] }],
  }).pools.p;
  const build = (bounded: boolean, version: number) =>
    buildPoolSnapshot({
      name: "p",
      settings: bounded ? settings : plain,
      ringVersion: version,
      members: ["a", "b"].map((id, i) => ({ id, address: { host: "127.0.0.1", port: 9000 + i }, weight: 1 })),
    });
  const book = new LiveBook();
  const s1 = build(false, 1);
  const live = book.for(s1);
  const a1 = s1.byId.get("a") as number;
  // Without bounded load nothing reads the counts: none are kept.
  const none = live.acquire("a", s1, a1);
  assert.equal(none, 0, "nothing counted, nothing to release");
  assert.equal(live.totalInFlight, 0);
  assert.equal(live.inFlight[a1], 0);
  // Bounded load on: counting starts from zero; a request from before releases nothing.
  const s2 = build(true, 2);
  book.for(s2);
  const a2 = s2.byId.get("a") as number;
  const first = live.acquire("a", s2, a2);
  assert.equal(live.inFlight[a2], 1);
  assert.equal(live.totalInFlight, 1);
  live.release("a", s1, a1, none);
  assert.equal(live.inFlight[a2], 1, "the request taken before bounded load lowers no count");
  assert.equal(live.totalInFlight, 1);
  live.release("a", s2, a2, first);
  assert.equal(live.inFlight[a2], 0);
  const held = [live.acquire("a", s2, a2), live.acquire("a", s2, a2)];
  // Off, then on again while those two are in flight: the counts of the first stretch are not
  // carried into the second, and their releases do not lower the second's counts.
  book.for(build(false, 3));
  live.release("a", s2, a2, held[0]);
  const s4 = build(true, 4);
  book.for(s4);
  const a4 = s4.byId.get("a") as number;
  assert.equal(live.inFlight[a4], 0);
  assert.equal(live.totalInFlight, 0);
  const b4 = s4.byId.get("b") as number;
  const now = [live.acquire("a", s4, a4), live.acquire("b", s4, b4)];
  assert.deepEqual([live.inFlight[a4], live.inFlight[b4], live.totalInFlight], [1, 1, 2]);
  live.release("a", s2, a2, held[1]);
  assert.deepEqual(
    [live.inFlight[a4], live.inFlight[b4], live.totalInFlight],
    [1, 1, 2],
    "a request of the first stretch ending lowers no count of the second",
  );
  live.release("a", s4, a4, now[0]);
  live.release("b", s4, b4, now[1]);
  assert.deepEqual([live.inFlight[a4], live.inFlight[b4], live.totalInFlight], [0, 0, 0]);
});
