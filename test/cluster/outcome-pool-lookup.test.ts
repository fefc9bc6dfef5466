// OutcomeRecorders on the request path (issue 15): recordStatus and recordError find the pool
// they count into by name; a process with one pool now does that Map lookup once, not per
// request, and the pool it keeps is forgotten at every sync, so an outcome recorded after a
// change that replaced the pool's recorder (new failure statuses) or removed the pool lands
// where a fresh lookup would put it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ClusterState } from "../../config/state/cluster-state.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { routingFrom, setRouting } from "../config/cluster-fixtures.js";

function yaml(failureStatuses: string, pools = ["users"]): string {
  return `pools:
${pools
  .map(
    (p) => `  ${p}:
    breaker: { failureStatuses: ${failureStatuses} }
    members:
      - { id: a, address: "127.0.0.1:1" }
      - { id: b, address: "127.0.0.1:2" }
`,
  )
  .join("")}routes:
  - pool: ${pools[0]}
    key: [header:x-user-id]
`;
}

function committed(text: string, state = new ClusterState(), index = 1): ClusterState {
  const change = state.apply(index, setRouting(routingFrom(text)));
  assert.equal(change.applied, true, change.error);
  return state;
}

test("one pool: the request path looks the pool up by name once, not per outcome", () => {
  const recorders = new OutcomeRecorders();
  recorders.sync(committed(yaml("[502, 503, 504]")).current);
  const pools = (recorders as unknown as { pools: Map<string, unknown> }).pools;
  let lookups = 0;
  const get = pools.get.bind(pools);
  pools.get = (name: string) => {
    lookups++;
    return get(name);
  };
  for (let i = 0; i < 1000; i++) {
    recorders.recordStatus("users", i % 2 === 0 ? "a" : "b", i % 10 === 0 ? 503 : 200);
    if (i % 100 === 0) recorders.recordError("users", "a", "connect");
  }
  assert.ok(lookups <= 1, `${lookups} lookups by pool name for 1,010 outcomes`);
  const batch = recorders.drain().entries;
  const a = batch.find((e) => e.member === "a");
  const b = batch.find((e) => e.member === "b");
  assert.equal((a?.success ?? 0) + (a?.failure ?? 0) + (b?.success ?? 0) + (b?.failure ?? 0), 1010);
  assert.equal(a?.connectErrors, 10);
  assert.equal((a?.failure ?? 0) + (b?.failure ?? 0), 100 + 10);
});

test("a sync that replaces or removes the pool is seen by the next outcome", () => {
  const recorders = new OutcomeRecorders();
  const state = committed(yaml("[502, 503, 504]"));
  recorders.sync(state.current);
  recorders.recordStatus("users", "a", 500);
  assert.deepEqual(
    recorders.drain().entries.map((e) => [e.member, e.success, e.failure]),
    [["a", 1, 0]],
    "500 is not a failure status yet",
  );
  // New failure statuses: the pool's recorder is replaced.
  committed(yaml("[500]"), state, 2);
  recorders.sync(state.current);
  recorders.recordStatus("users", "a", 500);
  assert.deepEqual(
    recorders.drain().entries.map((e) => [e.member, e.success, e.failure]),
    [["a", 0, 1]],
    "counted by the pool's new recorder",
  );
  // The pool goes (routes move to another): its outcomes are dropped, the other pool's counted.
  committed(yaml("[500]", ["orders"]), state, 3);
  recorders.sync(state.current);
  recorders.recordStatus("users", "a", 500);
  recorders.recordStatus("orders", "b", 200);
  assert.deepEqual(
    recorders.drain().entries.map((e) => [e.pool, e.member, e.success, e.failure]),
    [["orders", "b", 1, 0]],
  );
  // And back: a new pool under the old name is found, not the one removed.
  committed(yaml("[502]", ["users"]), state, 4);
  recorders.sync(state.current);
  recorders.recordStatus("users", "b", 502);
  assert.deepEqual(
    recorders.drain().entries.map((e) => [e.pool, e.member, e.success, e.failure]),
    [["users", "b", 0, 1]],
  );
});
