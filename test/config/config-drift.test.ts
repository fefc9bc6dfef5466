import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../config/file/load.js";
import { ClusterState } from "../../config/state/cluster-state.js";
import { configDrift } from "../../config/state/drift.js";
import { consulSearchMembers, enc, ROUTING_YAML, routingFrom, setRouting } from "./cluster-fixtures.js";

const routing = routingFrom(ROUTING_YAML);
const NONE = { drift: false, addedPools: [], removedPools: [], changedPools: [], routesChanged: false };

test("nothing committed yet is drift", () => {
  assert.deepEqual(configDrift(routing, null), {
    drift: true,
    addedPools: ["search", "users"],
    removedPools: [],
    changedPools: [],
    routesChanged: true,
  });
});

test("the committed file is not drift, whatever the key or pool order, and run-time state is not drift", () => {
  const s = new ClusterState();
  s.apply(1, setRouting(routing));
  s.apply(2, enc({ v: 1, type: "Drain", pool: "users", member: "u1" }));
  s.apply(3, enc({ v: 1, type: "SetPoolSettings", pool: "users", settings: { retry: { attempts: 4 } } }));
  s.apply(4, consulSearchMembers([{ id: "c1", address: "10.0.0.1:80" }]));
  assert.deepEqual(configDrift(routing, s.current), NONE);
  // The same file written differently: pools swapped, keys in another order, defaults spelled out.
  const rewritten = `routes:
  - pool: search
    key: ["query:q"]
    match: { pathPrefix: /search, host: "*" }
  - key: [header:X-User-Id, ip]
    pool: users
    onMissingKey: random
pools:
  search:
    members:
      - { address: "127.0.0.1:9201", id: s-static, weight: 1 }
    discovery: { consul: { service: search } }
    algorithm: maglev
  users:
    pointsPerWeight: 160
    members:
      - { id: u1, address: "127.0.0.1:9101" }
      - { id: u2, address: "127.0.0.1:9102", weight: 2 }
      - { id: u3, address: "127.0.0.1:9103" }
`;
  const r = parseConfig(rewritten, {}, "rewritten.yaml");
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.deepEqual(configDrift(r.config, s.current), NONE);
  // A full ShardgateConfig or a bare RoutingConfig are both accepted as the committed side.
  assert.deepEqual(configDrift(r.config, routing), NONE);
});

test("changed, added and removed pools and changed routes are reported", () => {
  const changed = routingFrom(
    ROUTING_YAML.replace(
      '{ id: u2, address: "127.0.0.1:9102", weight: 2 }',
      '{ id: u2, address: "127.0.0.1:9102", weight: 3 }',
    ),
  );
  assert.deepEqual(configDrift(changed, routing), { ...NONE, drift: true, changedPools: ["users"] });

  const { search: _search, ...onlyUsers } = routing.pools;
  const fewer = { pools: onlyUsers, routes: routing.routes.filter((r) => r.pool === "users") };
  assert.deepEqual(configDrift(fewer, routing), {
    ...NONE,
    drift: true,
    removedPools: ["search"],
    routesChanged: true,
  });
  assert.deepEqual(configDrift(routing, fewer), {
    ...NONE,
    drift: true,
    addedPools: ["search"],
    routesChanged: true,
  });

  const reordered = { pools: routing.pools, routes: [...routing.routes].reverse() };
  assert.deepEqual(configDrift(reordered, routing), { ...NONE, drift: true, routesChanged: true });
});
