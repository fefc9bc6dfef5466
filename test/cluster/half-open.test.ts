// Half-open admission in member choice, with the real probe gate (OutcomeRecorders', as the
// running instance wires it): a half-open member takes at most `halfOpenProbes` probes in
// flight; once they are taken its keys walk on to the next member until a probe gives its
// slot back, and explaining a route never spends a probe.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ClusterState } from "../../config/state/cluster-state.js";
import { CommittedRouting } from "../../proxy/cluster/committed-routing.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { chooseMember, explainChoice } from "../../proxy/routing/member-choice.js";
import type { PoolSnapshot } from "../../proxy/routing/types.js";
import { enc, routingFrom, setRouting } from "../config/cluster-fixtures.js";
import { seededRandom } from "../support/prng.js";

const SEED = 0x5eed;

/** Pool "p" (m1..m3, halfOpenProbes 2) with m2 committed half-open, built with the real gate. */
function halfOpenSnapshot(): PoolSnapshot {
  const state = new ClusterState();
  const yaml = `pools:
  p:
    breaker: { halfOpenProbes: 2 }
    members:
      - { id: m1, address: "127.0.0.1:9000" }
      - { id: m2, address: "127.0.0.1:9001" }
      - { id: m3, address: "127.0.0.1:9002" }
routes:
  - pool: p
    key: [header:x-k]
`;
  assert.equal(state.apply(1, setRouting(routingFrom(yaml))).applied, true);
  const c = state.apply(
    2,
    enc({ v: 1, type: "SetBreaker", pool: "p", member: "m2", state: "half-open", since: 1, trips: 1 }),
  );
  assert.equal(c.applied, true, c.error);
  const recorders = new OutcomeRecorders();
  recorders.sync(state.current);
  const routing = new CommittedRouting((snap) => recorders.gateFor(snap));
  routing.apply(state.current, "all", true);
  const snap = routing.current().pools.get("p");
  assert.ok(snap);
  return snap;
}

test("a half-open member admits its probes, its keys go to the next member while they are out, and a released slot admits again", () => {
  const snap = halfOpenSnapshot();
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
  assert.equal(explained.member, "m2", "a free probe slot: the explanation names the half-open owner");
  assert.equal(chooseMember(snap, key, null, 0), m2, "first probe");
  assert.equal(chooseMember(snap, key, null, 0), m2, "second probe (explain spent none)");
  const third = chooseMember(snap, key, null, 0);
  assert.notEqual(third, m2, "both probes in flight: walk on");
  assert.ok(third >= 0);
  const busy = explainChoice(snap, key, null, 0);
  assert.notEqual(busy.member, "m2");
  assert.deepEqual(busy.skipped, [{ id: "m2", reason: "breaker_half_open" }]);
  snap.probe?.release(m2);
  assert.equal(chooseMember(snap, key, null, 0), m2, "a released slot admits the next probe");
});
