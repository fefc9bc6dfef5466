// What a one-member reload of a 5,000-member pool allocates on the JS heap after the routing
// is rebuilt: the report of the applied change (metrics, member series: committed-changes.ts,
// series-cache.ts syncMembers) and the breaker outcome recorders (sync, gateFor). Each is
// walked once per reload and not optimised, so a for-of allocated an iterator result (and a
// Map entry array) per member, and a leave built a Set of the whole pool: 600 KiB and
// 400 KiB per reload before. Measured as the median of process.memoryUsage().heapUsed across
// each call (a scavenge inside one can only lower it); the snapshots are real ones, built
// before the measured window by CommittedRouting.

import assert from "node:assert/strict";
import { test } from "node:test";
import { SILENT_LOG } from "../../config/log-sink.js";
import type { ClusterStateData, MemberState, StateChange } from "../../config/state/types.js";
import { CommittedChanges } from "../../proxy/cluster/committed-changes.js";
import { CommittedRouting, type RoutingChange } from "../../proxy/cluster/committed-routing.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { createMetrics } from "../../proxy/metrics/registry.js";
import { SeriesCache } from "../../proxy/metrics/series-cache.js";
import { onePoolState, poolMember } from "../support/one-pool-state.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(16_2017);
const SIZE = 5000;

function changeAt(version: number): StateChange {
  return {
    index: version,
    type: "SetMembers",
    applied: true,
    warnings: [],
    ringChanged: ["p"],
    poolsChanged: ["p"],
    addedPools: [],
    removedPools: [],
    routesChanged: false,
    ringVersion: version,
  } as unknown as StateChange;
}

/** 24 states: alternately the base pool with a joiner at a seeded place in id order, and the base (the joiner leaves). */
function sequence(): { base: MemberState[]; states: ClusterStateData[] } {
  const rnd = seededRandom(SEED);
  const base: MemberState[] = [];
  for (let i = 0; i < SIZE; i++) base.push(poolMember(`m${String(i).padStart(5, "0")}`, 1024 + (i % 50)));
  const states: ClusterStateData[] = [];
  for (let step = 0; step < 24; step++) {
    if (step % 2 === 1) {
      states.push(onePoolState(base, step + 2));
      continue;
    }
    const k = Math.floor(rnd() * SIZE);
    const joined = [
      ...base.slice(0, k + 1),
      poolMember(`m${String(k).padStart(5, "0")}j`, 1024 + 7),
      ...base.slice(k + 1),
    ];
    states.push(onePoolState(joined, step + 2));
  }
  return { base, states };
}

function median(xs: readonly number[]): number {
  const warm = [...xs.slice(4)].sort((a, b) => a - b);
  return warm[warm.length >> 1];
}

test("reporting a one-member reload of a 5,000-member pool allocates in proportion to the member", () => {
  const { base, states } = sequence();
  const routing = new CommittedRouting();
  const metrics = createMetrics();
  const series = new SeriesCache(metrics);
  let next: RoutingChange = routing.apply(onePoolState(base, 1), "all", true);
  // The routing is rebuilt by the real CommittedRouting before each measured call; applied()
  // is handed that result, so only the report is measured.
  const changes = new CommittedChanges({
    routing: { apply: () => next } as unknown as CommittedRouting,
    log: SILENT_LOG,
    clusterLog: SILENT_LOG,
    metrics,
    series,
  });
  let before = onePoolState([], 0);
  changes.applied(null, before, onePoolState(base, 1));
  before = onePoolState(base, 1);
  const allocated: number[] = [];
  for (const after of states) {
    next = routing.apply(after, ["p"], false);
    const h0 = process.memoryUsage().heapUsed;
    changes.applied(changeAt(after.ringVersion), before, after);
    allocated.push(process.memoryUsage().heapUsed - h0);
    before = after;
    // The series follow the members: the joiner's series exists with its flags, a leaver's is gone.
    const ps = series.pool("p");
    assert.equal(ps.members.size, after.pools.p.members.length, seedNote(SEED));
    for (const m of after.pools.p.members) assert.ok(ps.members.has(m.id), `${m.id} ${seedNote(SEED)}`);
  }
  const healthy = [...metrics.memberFlagsSource("healthy")];
  assert.equal(healthy.length, SIZE, seedNote(SEED));
  const warm = median(allocated);
  assert.ok(
    warm < 160 * 1024,
    `median JS heap bytes per one-member report ${warm} (all: ${allocated.join(" ")}) ${seedNote(SEED)}`,
  );
});

test("the outcome recorders follow a one-member reload of a 5,000-member pool in proportion to the member", () => {
  const { base, states } = sequence();
  const recorders = new OutcomeRecorders();
  const routing = new CommittedRouting();
  routing.apply(onePoolState(base, 1), "all", true);
  recorders.sync(onePoolState(base, 1));
  const snaps = states.map((s) => routing.apply(s, ["p"], false).state.pools.get("p"));
  const allocated: number[] = [];
  for (let i = 0; i < states.length; i++) {
    const snap = snaps[i];
    assert.ok(snap !== undefined);
    const h0 = process.memoryUsage().heapUsed;
    recorders.sync(states[i]);
    const gate = recorders.gateFor(snap, null);
    allocated.push(process.memoryUsage().heapUsed - h0);
    assert.equal(recorders.trackedMembers("p"), states[i].pools.p.members.length, seedNote(SEED));
    assert.ok(gate !== null);
  }
  const warm = median(allocated);
  assert.ok(
    warm < 64 * 1024,
    `median JS heap bytes per one-member recorder sync ${warm} (all: ${allocated.join(" ")}) ${seedNote(SEED)}`,
  );
});
