// CommittedRouting, the apply flow the app routes on: committed cluster-state changes (real
// ClusterState, real encoded commands) rebuild only the pools they touch, swap the state by
// reference without mutating the old one, keep drain/health across a routing change, report
// removed pools, and keep a pool's old snapshot when its new one cannot be built.

import assert from "node:assert/strict";
import { test } from "node:test";
import { configSchema, type ShardgateConfigInput } from "../../config/file/schema.js";
import { ClusterState } from "../../config/state/cluster-state.js";
import { type CommandInput, encodeCommand } from "../../config/state/commands.js";
import { CommittedRouting } from "../../proxy/cluster/committed-routing.js";

function routing(input: Pick<ShardgateConfigInput, "pools">) {
  const c = configSchema.parse({
    routes: [{ pool: Object.keys(input.pools ?? {})[0], key: ["header:x-user-id"] }],
    ...input,
  });
  return { pools: c.pools, routes: c.routes };
}

const TWO_POOLS = routing({
  pools: {
    a: {
      members: [
        { id: "a1", address: "127.0.0.1:1001" },
        { id: "a2", address: "127.0.0.1:1002" },
      ],
    },
    b: { algorithm: "maglev", tableSize: 101, members: [{ id: "b1", address: "127.0.0.1:2001" }] },
  },
});

/** A committed state machine plus the routing built from it, applied the way the app does. */
function fleet() {
  const state = new ClusterState();
  const rt = new CommittedRouting();
  let index = 0;
  const commit = (c: CommandInput) => {
    const change = state.apply(++index, encodeCommand(c));
    assert.ok(change.applied, change.error);
    return rt.apply(state.current, change.poolsChanged, change.routesChanged);
  };
  return { state, rt, commit };
}

function flags(rt: CommittedRouting, pool: string) {
  const p = rt.current().pools.get(pool);
  return p?.members.map((m) => [m.id, m.healthy, m.draining, p.eligible[m.index]]);
}

test("the first committed routing builds every pool at its Raft index", () => {
  const { rt, commit } = fleet();
  rt.applyProvisional(TWO_POOLS);
  assert.equal(rt.applied, false, "provisional routing is not committed");
  assert.equal(rt.ringVersion, 0);
  const change = commit({ v: 1, type: "SetRouting", routing: TWO_POOLS });
  assert.equal(rt.applied, true);
  assert.equal(change.state.ringVersion, 1);
  assert.deepEqual([...change.rebuiltPools].sort(), ["a", "b"]);
  assert.equal(rt.current(), change.state);
  assert.equal(change.state.pools.get("b")?.table.algorithm, "maglev");
});

test("a committed state without routing (the bootstrap snapshot) keeps the file's routing until SetRouting", () => {
  const { state, rt, commit } = fleet();
  const provisional = rt.applyProvisional(TWO_POOLS);
  // The founding voter's bootstrap snapshot restores the empty state, as a restart does again.
  for (let i = 0; i < 2; i++) {
    const change = rt.apply(state.current, "all", true);
    assert.equal(change.state, provisional, "the file's routing stays in use");
    assert.deepEqual(change.rebuiltPools, []);
    assert.equal(rt.current(), provisional);
  }
  assert.equal(rt.applied, false);
  assert.equal(rt.committed, null, "a starting worker is handed no committed state");
  assert.equal(rt.current().provisional, true);
  assert.deepEqual([...rt.current().pools.keys()].sort(), ["a", "b"]);
  const routed = commit({ v: 1, type: "SetRouting", routing: TWO_POOLS });
  assert.notEqual(routed.state, provisional, "committed routing replaces the file's");
  assert.equal(rt.applied, true);
  assert.equal(routed.state.ringVersion, 1);
  assert.notEqual(routed.state.provisional, true);
});

test("a snapshot with routing installed after the bootstrap state builds everything, as a first committed routing", () => {
  const { state, rt } = fleet();
  const provisional = rt.applyProvisional(TWO_POOLS);
  rt.apply(state.current, "all", true);
  // The leader's snapshot (InstallSnapshot): a state that already holds routing, restored whole.
  const leader = new ClusterState();
  leader.apply(7, encodeCommand({ v: 1, type: "SetRouting", routing: TWO_POOLS }));
  const installed = rt.apply(leader.current, "all", true);
  assert.notEqual(installed.state, provisional);
  assert.deepEqual([...installed.rebuiltPools].sort(), ["a", "b"]);
  assert.equal(installed.state.ringVersion, 7);
  assert.equal(installed.state.pools.get("a")?.ringVersion, 7, "pools built at the snapshot's ring version");
  assert.equal(rt.applied, true);
  assert.equal(rt.committed, leader.current);
  assert.notEqual(installed.state.provisional, true);
});

test("a health change rebuilds only its pool, as a new state object; the old one is not mutated", () => {
  const { rt, commit } = fleet();
  const first = commit({ v: 1, type: "SetRouting", routing: TWO_POOLS }).state;
  const change = commit({ v: 1, type: "SetHealth", pool: "a", health: [{ member: "a2", healthy: false }] });
  assert.deepEqual(change.rebuiltPools, ["a"]);
  const next = rt.current();
  assert.notEqual(next, first, "swapped by reference");
  assert.equal(next.ringVersion, 2);
  assert.equal(next.pools.get("b"), first.pools.get("b"), "the untouched pool keeps its snapshot object");
  assert.deepEqual(flags(rt, "a"), [
    ["a1", true, false, 1],
    ["a2", false, false, 0],
  ]);
  assert.equal(first.pools.get("a")?.members[1].healthy, true, "the old snapshot is never mutated");
});

test("drain and health survive a routing change for members that stay; a removed pool is reported", () => {
  const { rt, commit } = fleet();
  commit({ v: 1, type: "SetRouting", routing: TWO_POOLS });
  commit({ v: 1, type: "SetHealth", pool: "a", health: [{ member: "a1", healthy: false }] });
  commit({ v: 1, type: "Drain", pool: "a", member: "a2" });
  const change = commit({
    v: 1,
    type: "SetRouting",
    routing: routing({
      pools: {
        a: {
          members: [
            { id: "a1", address: "127.0.0.1:1001" },
            { id: "a2", address: "127.0.0.1:1002" },
            { id: "a3", address: "127.0.0.1:1003" },
          ],
        },
      },
    }),
  });
  assert.deepEqual(change.removedPools, ["b"]);
  assert.equal(rt.current().pools.has("b"), false);
  assert.deepEqual(flags(rt, "a"), [
    ["a1", false, false, 0],
    ["a2", true, true, 0],
    ["a3", true, false, 1],
  ]);
  assert.deepEqual(
    rt.routes().map((r) => r.pool),
    ["a"],
  );
});

test("a pool that cannot be built keeps its old snapshot and is reported; the others are rebuilt", () => {
  const { state, rt, commit } = fleet();
  commit({ v: 1, type: "SetRouting", routing: TWO_POOLS });
  const before = rt.current().pools.get("b");
  const data = state.current;
  const b = data.pools.b;
  // Past the schema (which would refuse it): a Maglev table size that is not prime.
  const broken = {
    ...data,
    ringVersion: data.ringVersion + 1,
    pools: { ...data.pools, b: { ...b, settings: { ...b.settings, tableSize: 100 } } },
  };
  const change = rt.apply(broken, ["a", "b"], false);
  assert.deepEqual(change.rebuiltPools, ["a"]);
  assert.equal(change.failed.length, 1);
  assert.equal(change.failed[0].pool, "b");
  assert.match(change.failed[0].error, /prime/);
  assert.equal(rt.current().pools.get("b"), before, "the old snapshot keeps serving");
});

test("a join or a leave makes snapshot inputs only for the members it changes", () => {
  const { rt, commit, state } = fleet();
  const pool = (ids: readonly string[]) =>
    routing({ pools: { a: { members: ids.map((id, i) => ({ id, address: `127.0.0.1:${3000 + i}` })) } } });
  const inputsOf = () =>
    (
      rt as unknown as { inputs: Map<string, { states: readonly unknown[]; inputs: readonly object[] }> }
    ).inputs.get("a") as { states: readonly { id: string }[]; inputs: readonly object[] };
  commit({ v: 1, type: "SetRouting", routing: pool(["a1", "a2", "a4", "a5"]) });
  for (const [what, ids] of [
    ["join of a3 between", ["a1", "a2", "a3", "a4", "a5"]],
    ["leave of a2", ["a1", "a3", "a4", "a5"]],
  ] as const) {
    const before = inputsOf();
    const beforeStates = new Map(before.states.map((s, i) => [s, before.inputs[i]]));
    // Addresses follow the position in the file: keep each staying member's address.
    const addressOf = new Map(
      state.current.pools.a.members.map((m) => [m.id, `127.0.0.1:${m.address.port}`]),
    );
    commit({
      v: 1,
      type: "SetRouting",
      routing: routing({
        pools: { a: { members: ids.map((id) => ({ id, address: addressOf.get(id) ?? "127.0.0.1:3999" })) } },
      }),
    });
    const after = inputsOf();
    assert.deepEqual(
      after.states.map((s) => s.id),
      ids,
    );
    let fresh = 0;
    after.states.forEach((s, i) => {
      const old = beforeStates.get(s);
      if (old === undefined) fresh++;
      else assert.equal(after.inputs[i], old, `${what}: ${s.id} keeps its input`);
    });
    assert.ok(fresh <= 1, `${what}: ${fresh} new inputs`);
    assert.ok(after.states.length - fresh >= 3, `${what}: the staying members' states were kept`);
  }
});
