// Member slots (PoolSnapshot.slots) and the per-member records the request path reads by slot
// (metrics series, breaker outcome counts). Over seeded random sequences of membership changes
// (drain, health, breaker, address, weight, join, leave, table settings): a member keeps its
// slot while it stays, slots are unique and dense, and a lookup by (slot, id) answers exactly
// what the Map by id answers, for requests that carry the slot of the current snapshot or of
// any older one (a slot that passed to a joiner, a slot of a member that left) or a wrong one.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { configSchema, type PoolConfig } from "../../config/file/schema.js";
import type { ClusterStateData, MemberState } from "../../config/state/types.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { type CountsView, LiveRow } from "../../proxy/metrics/live-window.js";
import {
  CODE_CLASSES,
  type CodeClass,
  createMetrics,
  DURATION_BUCKETS,
} from "../../proxy/metrics/registry.js";
import { type MemberSeries, SeriesCache } from "../../proxy/metrics/series-cache.js";
import { buildPoolSnapshot, updatePoolSnapshot } from "../../proxy/routing/pool-snapshot.js";
import type { MemberInput, PoolSnapshot } from "../../proxy/routing/types.js";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";

const BASE_SEED = testSeed(16_160);

function settingsFor(o: Record<string, unknown>): PoolConfig {
  return configSchema.parse({ pools: { p: { members: [], ...o } }, routes: [{ pool: "p", key: ["ip"] }] })
    .pools.p;
}

type Op = "drain" | "health" | "breaker" | "address" | "weight" | "join" | "leave" | "churn" | "table";
const OPS: readonly Op[] = [
  "drain",
  "health",
  "breaker",
  "address",
  "weight",
  "join",
  "leave",
  "churn",
  "table",
];

/** A pool's committed members (sorted by id, unchanged ones kept by identity) and its snapshots. */
class PoolModel {
  members: MemberState[] = [];
  settings: PoolConfig;
  snapshots: PoolSnapshot[] = [];
  private nextId = 0;
  private version = 1;
  constructor(
    private readonly rnd: () => number,
    private readonly algorithm: "ring" | "maglev",
  ) {
    this.settings = this.newSettings();
    const n = 3 + Math.floor(rnd() * 30);
    for (let i = 0; i < n; i++) this.join();
    this.snapshots.push(buildPoolSnapshot(this.input()));
  }
  private newSettings(): PoolConfig {
    const table =
      this.algorithm === "maglev"
        ? { tableSize: pick(this.rnd, [2003, 4001]) }
        : { pointsPerWeight: pick(this.rnd, [8, 16]) };
    return settingsFor({ algorithm: this.algorithm, ...table });
  }
  private join(): void {
    // Ids of several widths, so that sorted order and join order differ.
    const id = `m${Math.floor(this.rnd() * 1000)}-${this.nextId++}`;
    this.members.push({
      id,
      address: { host: "127.0.0.1", port: 10_000 + this.nextId },
      weight: 1,
      source: "static",
      healthy: true,
      draining: false,
      breaker: { state: "closed", since: 0, until: 0, trips: 0, override: "auto" },
    } as MemberState);
    this.members.sort((a, b) => (a.id < b.id ? -1 : 1));
  }
  private leave(): void {
    if (this.members.length <= 1) return;
    const i = Math.floor(this.rnd() * this.members.length);
    this.members = this.members.filter((_, k) => k !== i);
  }
  private change(f: (m: MemberState) => Partial<MemberState>): void {
    const i = Math.floor(this.rnd() * this.members.length);
    this.members = this.members.slice();
    this.members[i] = { ...this.members[i], ...f(this.members[i]) };
  }
  input() {
    const members: MemberInput[] = this.members.map((m) => ({
      id: m.id,
      address: m.address,
      weight: m.weight,
      healthy: m.healthy,
      draining: m.draining,
      breakerOpen: m.breaker.state === "open",
      breakerHalfOpen: m.breaker.state === "half-open",
    }));
    return { name: "p", settings: this.settings, members, ringVersion: ++this.version };
  }
  get current(): PoolSnapshot {
    return this.snapshots[this.snapshots.length - 1];
  }
  step(op: Op): void {
    switch (op) {
      case "drain":
        this.change((m) => ({ draining: !m.draining }));
        break;
      case "health":
        this.change((m) => ({ healthy: !m.healthy }));
        break;
      case "breaker": {
        const state = pick(this.rnd, ["open", "half-open", "closed"] as const);
        this.change((m) => ({ breaker: { ...m.breaker, state, trips: m.breaker.trips + 1 } }));
        break;
      }
      case "address":
        this.change((m) => ({ address: { host: "127.0.0.2", port: m.address.port + 1 } }));
        break;
      case "weight":
        this.change(() => ({ weight: 1 + Math.floor(this.rnd() * 3) }));
        break;
      case "join":
        this.members = this.members.slice();
        this.join();
        break;
      case "leave":
        this.leave();
        break;
      case "churn": {
        // Leavers and joiners in one change: the joiners take the leavers' slots.
        const k = 1 + Math.floor(this.rnd() * 3);
        for (let i = 0; i < k; i++) this.leave();
        this.members = this.members.slice();
        for (let i = 0; i < k; i++) this.join();
        break;
      }
      case "table":
        this.settings = this.newSettings();
        break;
    }
    this.snapshots.push(updatePoolSnapshot(this.current, this.input()));
  }
  state(): ClusterStateData {
    return {
      pools: { p: { settings: this.settings, members: this.members, ringVersion: this.version } },
    } as unknown as ClusterStateData;
  }
}

function checkSlots(prev: PoolSnapshot, next: PoolSnapshot, why: string): void {
  const n = next.members.length;
  assert.equal(next.slots.length, n, `${why}: one slot per member`);
  let prevMax = -1;
  for (const s of prev.slots) prevMax = Math.max(prevMax, s);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const s = next.slots[i];
    assert.ok(s >= 0 && s < Math.max(n, prevMax + 1), `${why}: slot ${s} of ${n} members is dense`);
    assert.ok(!seen.has(s), `${why}: slot ${s} given twice`);
    seen.add(s);
    const j = prev.byId.get(next.members[i].id);
    if (j !== undefined) assert.equal(s, prev.slots[j], `${why}: ${next.members[i].id} kept its slot`);
  }
  // Joiners took the lowest slots nobody held.
  const joined = [...next.slots].filter((_, i) => !prev.byId.has(next.members[i].id)).sort((a, b) => a - b);
  const held = new Set([...next.slots].filter((_, i) => prev.byId.has(next.members[i].id)));
  const free: number[] = [];
  for (let s = 0; free.length < joined.length; s++) if (!held.has(s)) free.push(s);
  assert.deepEqual(joined, free, `${why}: joiners take the lowest free slots`);
}

/** A request's (slot, member id) as the data plane would carry it: from any snapshot, or a wrong slot. */
function someRequest(rnd: () => number, model: PoolModel): { slot: number; id: string } {
  const snap = rnd() < 0.5 ? model.current : model.snapshots[Math.floor(rnd() * model.snapshots.length)];
  const i = Math.floor(rnd() * snap.members.length);
  const r = rnd();
  // Mostly the snapshot's own slot; sometimes another member's, none, or one past the pool.
  const slot =
    r < 0.8
      ? snap.slots[i]
      : r < 0.9
        ? snap.slots[Math.floor(rnd() * snap.members.length)]
        : r < 0.95
          ? -1
          : snap.members.length + Math.floor(rnd() * 8);
  return { slot, id: snap.members[i].id };
}

describe("member slots", () => {
  for (const algorithm of ["ring", "maglev"] as const) {
    test(`${algorithm}: slots stay with their members, are unique and dense (seeded)`, () => {
      for (let k = 0; k < 12; k++) {
        const seed = BASE_SEED + k;
        const rnd = seededRandom(seed);
        const model = new PoolModel(rnd, algorithm);
        for (let step = 0; step < 60; step++) {
          const op = pick(rnd, OPS);
          const prev = model.current;
          model.step(op);
          checkSlots(prev, model.current, `${seedNote(BASE_SEED)} (+${k}) ${algorithm} step ${step} (${op})`);
        }
      }
    });
  }

  test("metrics series by slot are the series by member id, across random changes (seeded)", () => {
    for (let k = 0; k < 16; k++) {
      const seed = BASE_SEED + 100 + k;
      const rnd = seededRandom(seed);
      const model = new PoolModel(rnd, k % 2 === 0 ? "ring" : "maglev");
      const series = new SeriesCache(createMetrics({ processMetrics: false }));
      series.syncMembers(
        "p",
        model.current.members.map((m) => m.id),
      );
      for (let step = 0; step < 50; step++) {
        const op = pick(rnd, OPS);
        model.step(op);
        series.syncMembers(
          "p",
          model.current.members.map((m) => m.id),
        );
        const ps = series.pool("p");
        for (let q = 0; q < 40; q++) {
          const { slot, id } = someRequest(rnd, model);
          const want = ps.member(id);
          assert.equal(
            ps.memberAt(slot, id),
            want,
            `${seedNote(BASE_SEED)} (+${100 + k}) step ${step} (${op}): slot ${slot} of ${id} read ${ps.memberAt(slot, id).member}, the Map says ${want.member}`,
          );
        }
      }
    }
  });

  test("live counters in the pool's columns: a member's row is its own, a reused row starts at zero (seeded)", () => {
    // The reference: each member's counts kept by id, created when the member joins and
    // dropped when it leaves; a request of a member no longer in the pool counts as "removed".
    interface Ref {
      count: number;
      errors: number;
      sum: number;
      buckets: number[];
      /** Requests of route "r" by code class, as /metrics shows them. */
      classes: number[];
    }
    const fresh = (): Ref => ({
      classes: [0, 0, 0, 0, 0],
      count: 0,
      errors: 0,
      sum: 0,
      buckets: new Array(DURATION_BUCKETS.length + 1).fill(0),
    });
    const add = (r: Ref, seconds: number, error: boolean) => {
      r.count++;
      r.sum += seconds;
      if (error) r.errors++;
      let i = 0;
      while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
      r.buckets[i]++;
    };
    const classes = (ms: MemberSeries): number[] => {
      const out = [0, 0, 0, 0, 0];
      for (const x of ms.requestSamples())
        out[CODE_CLASSES.indexOf(x.labels.code_class as CodeClass)] = x.value;
      return out;
    };
    const read = (c: CountsView, ms: MemberSeries): Ref => ({
      classes: classes(ms),
      count: c.count,
      errors: c.errors,
      sum: c.sum,
      buckets: Array.from(c.buckets),
    });
    let reusedRows = 0;
    for (let k = 0; k < 16; k++) {
      const seed = BASE_SEED + 300 + k;
      const rnd = seededRandom(seed);
      const model = new PoolModel(rnd, k % 2 === 0 ? "ring" : "maglev");
      const series = new SeriesCache(createMetrics({ processMetrics: false }));
      const ids = () => model.current.members.map((m) => m.id);
      series.syncMembers("p", ids());
      const ps = series.pool("p");
      const ref = new Map<string, Ref>(ids().map((id) => [id, fresh()]));
      const removed = fresh();
      // Readers hold a member's view across changes, as the workers' reporter does.
      const views = new Map<string, CountsView>();
      // Row -> the member that last took it.
      const owner = new Map<number, string>();
      for (let step = 0; step < 50; step++) {
        const why = `${seedNote(BASE_SEED)} (+${300 + k}) step ${step}`;
        const op = pick(rnd, OPS);
        model.step(op);
        series.syncMembers("p", ids());
        const now = new Set(ids());
        for (const id of [...ref.keys()]) if (!now.has(id)) ref.delete(id);
        for (const id of now) if (!ref.has(id)) ref.set(id, fresh());
        for (let q = 0; q < 40; q++) {
          const { slot, id } = someRequest(rnd, model);
          const seconds = Math.floor(rnd() * 4000) / 1000;
          const error = rnd() < 0.2;
          const cls = Math.floor(rnd() * 5);
          const ms = ps.memberAt(slot, id);
          ms.countRequest("r", cls);
          ms.served(seconds, error);
          const v = ms.live;
          assert.ok(v instanceof LiveRow, `${why}: ${ms.member} reads a row of the pool's columns`);
          const last = owner.get(v.row);
          if (last !== undefined && last !== ms.member) reusedRows++;
          owner.set(v.row, ms.member);
          const r = ref.get(id) ?? removed;
          add(r, seconds, error);
          r.classes[cls]++;
        }
        for (const [id, want] of ref) {
          const ms = ps.members.get(id);
          assert.ok(ms !== undefined, `${why}: ${id} has a series`);
          const view = views.get(id) ?? ms.live;
          if (want.count > 0) views.set(id, ms.live);
          assert.deepEqual(read(ms.live, ms), want, `${why} (${op}): ${id}'s live counts`);
          assert.deepEqual(
            read(view, ms),
            want,
            `${why} (${op}): ${id}'s live counts through a view read earlier`,
          );
        }
        assert.deepEqual(
          read(ps.removed.live, ps.removed),
          removed,
          `${why} (${op}): the removed bucket's counts`,
        );
        // One row per member that served, plus "removed": leavers' rows are given back.
        let served = removed.count > 0 ? 1 : 0;
        for (const r of ref.values()) if (r.count > 0) served++;
        assert.equal(ps.live.size, served, `${why} (${op}): rows in use`);
      }
    }
    assert.ok(reusedRows > 0, `${seedNote(BASE_SEED)}: some joiner took a leaver's row`);
  });

  test("breaker outcomes recorded by slot equal those recorded by member id (seeded)", () => {
    for (let k = 0; k < 16; k++) {
      const seed = BASE_SEED + 200 + k;
      const rnd = seededRandom(seed);
      const model = new PoolModel(rnd, k % 2 === 0 ? "ring" : "maglev");
      const bySlot = new OutcomeRecorders();
      const byId = new OutcomeRecorders();
      bySlot.sync(model.state());
      byId.sync(model.state());
      for (let step = 0; step < 50; step++) {
        const op = pick(rnd, OPS);
        model.step(op);
        bySlot.sync(model.state());
        byId.sync(model.state());
        for (let q = 0; q < 40; q++) {
          const { slot, id } = someRequest(rnd, model);
          const r = rnd();
          if (r < 0.6) {
            const status = pick(rnd, [200, 200, 404, 502, 503]);
            bySlot.recordStatus("p", id, status, slot);
            byId.recordStatus("p", id, status);
          } else {
            const kind = pick(rnd, ["connect", "reset", "timeout"] as const);
            bySlot.recordError("p", id, kind, slot);
            byId.recordError("p", id, kind);
          }
        }
        // Drained at random moments, as the ~100 ms timer would.
        if (rnd() < 0.5)
          assert.deepEqual(
            bySlot.drain(),
            byId.drain(),
            `${seedNote(BASE_SEED)} (+${200 + k}) step ${step} (${op}): drained counts differ`,
          );
      }
      assert.deepEqual(bySlot.drain(), byId.drain(), `${seedNote(BASE_SEED)} (+${200 + k}): final drain`);
    }
  });

  test("a leaver's slot given to a joiner reads the joiner's state only under the joiner's id", () => {
    const settings = settingsFor({ algorithm: "ring", pointsPerWeight: 8 });
    const m = (id: string, port: number): MemberInput => ({
      id,
      address: { host: "127.0.0.1", port },
      weight: 1,
    });
    const s1 = buildPoolSnapshot({ name: "p", settings, members: [m("a", 1), m("b", 2)], ringVersion: 1 });
    const s2 = updatePoolSnapshot(s1, {
      name: "p",
      settings,
      members: [m("a", 1), m("c", 3)],
      ringVersion: 2,
    });
    const slotB = s1.slots[s1.byId.get("b") as number];
    assert.equal(s2.slots[s2.byId.get("c") as number], slotB, "c took b's slot");
    const series = new SeriesCache(createMetrics({ processMetrics: false }));
    series.syncMembers("p", ["a", "b"]);
    const ps = series.pool("p");
    const b = ps.memberAt(slotB, "b");
    assert.equal(b, ps.members.get("b"));
    series.syncMembers("p", ["a", "c"]);
    // A request that began on s1 ends after the change: b's slot, b's id -> "removed".
    assert.equal(ps.memberAt(slotB, "b").member, "removed");
    assert.equal(ps.memberAt(slotB, "c"), ps.members.get("c"));
    assert.equal(ps.memberAt(slotB, "b").member, "removed", "still removed once c is bound there");
  });
});
