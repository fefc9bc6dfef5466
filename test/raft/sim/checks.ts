// 6.824-style assertions over a SimCluster (checkOneLeader, checkNoLeader, checkTerms, ...).
// Each helper throws with the seed and the cluster's state in the message.
import assert from "node:assert/strict";
import type { SimCluster } from "./cluster.js";

export function state(sim: SimCluster): string {
  return [...sim.nodes.values()].map((n) => sim.describe(n)).join("; ");
}

/** Waits up to `maxTicks` for exactly one leader among live connected nodes in the top term. */
export function checkOneLeader(sim: SimCluster, seed: number, maxTicks = 50): string {
  for (let waited = 0; waited <= maxTicks; waited += 5) {
    const byTerm = new Map<number, string[]>();
    for (const n of sim.nodes.values()) {
      if (!n.raft || !sim.net.isConnected(n.id)) continue;
      const s = n.raft.status();
      if (s.role === "leader") byTerm.set(s.term, [...(byTerm.get(s.term) ?? []), n.id]);
    }
    let top = -1;
    for (const [term, ids] of byTerm) {
      assert.equal(ids.length, 1, `seed ${seed}: term ${term} has ${ids.length} leaders (${state(sim)})`);
      top = Math.max(top, term);
    }
    if (top >= 0) return byTerm.get(top)![0];
    sim.runTicks(5);
  }
  assert.fail(`seed ${seed}: expected one leader within ${maxTicks} ticks (${state(sim)})`);
}

export function checkNoLeader(sim: SimCluster, seed: number): void {
  for (const n of sim.nodes.values()) {
    if (!n.raft || !sim.net.isConnected(n.id)) continue;
    assert.notEqual(n.raft.status().role, "leader", `seed ${seed}: expected no leader (${state(sim)})`);
  }
}

/** All live connected nodes agree on the term; returns it. */
export function checkTerms(sim: SimCluster, seed: number): number {
  let term = -1;
  for (const n of sim.nodes.values()) {
    if (!n.raft || !sim.net.isConnected(n.id)) continue;
    const t = n.raft.status().term;
    if (term === -1) term = t;
    else assert.equal(t, term, `seed ${seed}: servers disagree on term (${state(sim)})`);
  }
  return term;
}

export function cmd(s: string | number): Uint8Array {
  return new TextEncoder().encode(`c${s}`);
}

/** 6.824's one(): asserts that `value` commits on at least `expected` nodes; returns its index. */
export function one(
  sim: SimCluster,
  seed: number,
  value: string | number,
  expected: number,
  maxTicks = 100,
): number {
  const index = sim.one(cmd(value), expected, maxTicks);
  assert.ok(
    index > 0,
    `seed ${seed}: one(${value}) failed to reach agreement on ${expected} nodes (${state(sim)})`,
  );
  return index;
}

/** Live nodes that ever applied `index`. */
export function appliedBy(sim: SimCluster, index: number): string[] {
  return [...sim.nodes.values()].filter((n) => n.everApplied >= index).map((n) => n.id);
}

export function assertInvariants(sim: SimCluster, seed: number): void {
  assert.deepEqual(sim.check.violations, [], `seed ${seed}: invariant violations`);
}

export function ids(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `s${i}`);
}
