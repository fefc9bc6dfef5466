// Unit tests for EndpointSlices -> members, the pool config for Kubernetes discovery, and how
// a terminating pod is planned (draining: unhealthy, outside the panic guard).

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../config/file/load.js";
import { ClusterState } from "../../config/state/cluster-state.js";
import type { PoolState } from "../../config/state/types.js";
import { type EndpointSliceLike, parseEndpointSlices, slicePort } from "../../health/kubernetes-members.js";
import { planMembership } from "../../health/membership/membership-plan.js";
import { enc, routingFrom, setRouting } from "../config/cluster-fixtures.js";

interface Ep {
  pod: string;
  ip: string;
  uid?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

function slice(
  name: string,
  eps: Ep[],
  ports: { name?: string; port?: number }[] = [{ name: "http", port: 8080 }],
) {
  return {
    metadata: { name, resourceVersion: "1" },
    addressType: "IPv4",
    ports,
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
      targetRef: { kind: "Pod", name: e.pod, namespace: "ns", uid: e.uid ?? `uid-${e.pod}` },
      nodeName: "node-1",
      zone: "z1",
    })),
  } satisfies EndpointSliceLike;
}

test("member id is the pod name; conditions map to healthy / draining / unhealthy", () => {
  const { members, warnings } = parseEndpointSlices(
    [
      slice("web-b", [
        { pod: "web-2", ip: "10.0.0.3", ready: false, serving: true, terminating: true },
        { pod: "web-3", ip: "10.0.0.4", ready: false },
      ]),
      slice("web-a", [
        { pod: "web-1", ip: "10.0.0.2" },
        { pod: "web-0", ip: "10.0.0.1", ready: true },
      ]),
    ],
    "http",
  );
  assert.deepEqual(warnings, []);
  assert.deepEqual([...members.keys()], ["web-0", "web-1", "web-2", "web-3"], "sorted by pod name");
  const m = (id: string) => members.get(id);
  assert.equal(m("web-1")?.healthy, true, "ready unset means ready");
  assert.equal(m("web-0")?.address, "10.0.0.1");
  assert.equal(m("web-0")?.port, 8080);
  assert.equal(m("web-0")?.meta.zone, "z1");
  assert.deepEqual(
    [m("web-2")?.healthy, m("web-2")?.draining],
    [false, true],
    "serving + terminating = draining",
  );
  assert.deepEqual([m("web-3")?.healthy, m("web-3")?.draining], [false, false], "not ready = unhealthy");
});

test("a pod listed by two slices during a move is one member, its ready entry wins, whatever the order", () => {
  const a = slice("s-a", [{ pod: "p", ip: "10.0.0.9", uid: "u1", ready: false }]);
  const b = slice("s-b", [{ pod: "p", ip: "10.0.0.9", uid: "u1", ready: true }]);
  for (const order of [
    [a, b],
    [b, a],
  ]) {
    const { members } = parseEndpointSlices(order, "http");
    assert.equal(members.size, 1);
    assert.equal(members.get("p")?.healthy, true);
  }
});

test("ports match by name or by number; a slice without the port is skipped with a warning", () => {
  const s = slice(
    "s",
    [{ pod: "p", ip: "10.0.0.1" }],
    [
      { name: "http", port: 8080 },
      { name: "admin", port: 9901 },
    ],
  );
  assert.equal(slicePort(s, "admin"), 9901);
  assert.equal(slicePort(s, 8080), 8080);
  assert.equal(slicePort(s, 80), undefined, "a Service port number is not an endpoint port");
  assert.equal(slicePort(slice("t", [], []), 7000), 7000, "no declared ports = every port");
  assert.equal(slicePort(slice("t", [], []), "http"), undefined);
  const r = parseEndpointSlices([s], "grpc");
  assert.equal(r.members.size, 0);
  assert.match(r.warnings[0], /slice "s": no port "grpc"/);
});

test("endpoints without a pod name or address are skipped, never thrown", () => {
  const bad: EndpointSliceLike = {
    metadata: { name: "x" },
    ports: [{ name: "http", port: 80 }],
    endpoints: [
      null,
      { addresses: [] },
      { addresses: ["10.0.0.1"] },
      "junk",
      { addresses: ["10.0.0.2"], hostname: "h" },
    ],
  };
  const r = parseEndpointSlices([bad], "http");
  assert.deepEqual([...r.members.keys()], ["h"], "hostname stands in for a missing targetRef");
  assert.equal(r.warnings.length, 4);
});

const K8S_YAML = `pools:
  web:
    discovery: { kubernetes: { service: web, namespace: shop, port: http } }
routes:
  - pool: web
    key: [header:x-user]
`;

test("discovery.kubernetes: config accepts name or number ports and refuses two sources", () => {
  const ok = parseConfig(K8S_YAML, {}, "k.yaml");
  assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.errors));
  assert.deepEqual(ok.config.pools.web.discovery?.kubernetes, {
    service: "web",
    namespace: "shop",
    port: "http",
  });
  const both = parseConfig(
    K8S_YAML.replace("port: http } }", "port: 8080 }, consul: { service: web } }"),
    {},
    "k.yaml",
  );
  assert.equal(both.ok, false);
  assert.match(JSON.stringify(!both.ok && both.errors), /exactly one of/);
  const badPort = parseConfig(K8S_YAML.replace("port: http", "port: HTTP_X"), {}, "k.yaml");
  assert.equal(badPort.ok, false);
  assert.match(JSON.stringify(!badPort.ok && badPort.errors), /pools\.web\.discovery\.kubernetes\.port/);
});

function committedPool(members: { id: string; healthy: boolean }[]): PoolState {
  const s = new ClusterState();
  s.apply(1, setRouting(routingFrom(K8S_YAML)));
  const r = s.apply(
    2,
    enc({
      v: 1,
      type: "SetMembers",
      pool: "web",
      source: "kubernetes",
      members: members.map((m, i) => ({ id: m.id, address: `10.0.0.${i + 1}:8080`, healthy: m.healthy })),
    }),
  );
  assert.ok(r.applied, r.error);
  return s.current.pools.web;
}

test("a terminating pod is unhealthy at once, even in panic; a not-ready one is held by the guard", () => {
  const pool = committedPool([
    { id: "web-0", healthy: true },
    { id: "web-1", healthy: true },
    { id: "web-2", healthy: true },
  ]);
  const view = parseEndpointSlices(
    [
      slice("s", [
        { pod: "web-0", ip: "10.0.0.1", ready: false },
        { pod: "web-1", ip: "10.0.0.2", ready: false },
        { pod: "web-2", ip: "10.0.0.3", ready: false, serving: true, terminating: true },
      ]),
    ],
    "http",
  );
  const plan = planMembership("web", pool, [...view.members.values()], 0.5, "kubernetes");
  assert.equal(plan.panic, true, "two of two counted members not ready");
  assert.equal(plan.total, 2, "the draining pod is not counted");
  assert.deepEqual(plan.suppressed, ["web-0", "web-1"]);
  assert.deepEqual(plan.command, {
    v: 1,
    type: "SetHealth",
    pool: "web",
    health: [{ member: "web-2", healthy: false }],
  });
});

test("a rescheduled pod (same name, new IP) is reshaped in place: same id, new address", () => {
  const pool = committedPool([{ id: "web-0", healthy: true }]);
  const view = parseEndpointSlices([slice("s", [{ pod: "web-0", ip: "10.9.9.9" }])], "http");
  const plan = planMembership("web", pool, [...view.members.values()], 0.5, "kubernetes");
  assert.deepEqual(plan.command, {
    v: 1,
    type: "SetMembers",
    pool: "web",
    source: "kubernetes",
    members: [{ id: "web-0", address: "10.9.9.9:8080", weight: 1, healthy: true }],
  });
});

test("kubernetes members are refused for a pool without kubernetes discovery", () => {
  const s = new ClusterState();
  s.apply(
    1,
    setRouting(
      routingFrom(
        K8S_YAML.replace(
          "kubernetes: { service: web, namespace: shop, port: http }",
          "consul: { service: web }",
        ),
      ),
    ),
  );
  const r = s.apply(
    2,
    enc({
      v: 1,
      type: "SetMembers",
      pool: "web",
      source: "kubernetes",
      members: [{ id: "a", address: "10.0.0.1:80" }],
    }),
  );
  assert.equal(r.applied, false);
  assert.match(r.error ?? "", /no kubernetes discovery/);
});

test("plans from re-read Consul views match plans from fresh ones (the schema cache follows each member)", async () => {
  const { parseHealthEntries } = await import("../../health/consul-members.js");
  const pool = committedPool([]);
  const entryOf = (i: number, port: number, status: string) => ({
    Node: { Node: "n1", Address: "10.0.0.1" },
    Service: { ID: `m${i}`, Service: "s", Address: "10.0.0.1", Port: port, Tags: [], Meta: {} },
    Checks: [{ CheckID: "c", Status: status }],
  });
  const views: Array<ReturnType<typeof entryOf>[]> = [
    Array.from({ length: 20 }, (_, i) => entryOf(i, 1000 + i, "passing")),
    Array.from({ length: 20 }, (_, i) => entryOf(i, 1000 + i, i === 4 ? "critical" : "passing")),
    // m5's port becomes 0: skipped; then valid again.
    Array.from({ length: 20 }, (_, i) => entryOf(i, i === 5 ? 0 : 1000 + i, "passing")),
    Array.from({ length: 20 }, (_, i) => entryOf(i, 1000 + i, "passing")),
  ];
  let prev: ReturnType<typeof parseHealthEntries>["members"] | undefined;
  for (const body of views) {
    const reread = parseHealthEntries(body, true, prev).members;
    const fresh = parseHealthEntries(structuredClone(body), true).members;
    const a = planMembership("web", pool, [...reread.values()], 0, "consul");
    const b = planMembership("web", pool, [...fresh.values()], 0, "consul");
    assert.deepEqual(a, b);
    prev = reread;
  }
});

test("a member is kept as the last view's object only when every field it takes is unchanged", () => {
  const port = "http";
  const base = () => slice("web-a", [{ pod: "web-0", ip: "10.0.0.1", ready: true }]);
  const last = parseEndpointSlices([base()], port).members;
  const before = last.get("web-0");
  assert.ok(before !== undefined);
  type Raw = ReturnType<typeof base>;
  const changes: Array<[string, (s: Raw) => void]> = [
    ["nothing", () => {}],
    [
      "slice renamed",
      (s) => {
        s.metadata.name = "web-z";
      },
    ],
    [
      "resourceVersion",
      (s) => {
        s.metadata.resourceVersion = "2";
      },
    ],
    [
      "address",
      (s) => {
        s.endpoints[0].addresses = ["10.0.0.9"];
      },
    ],
    [
      "port",
      (s) => {
        s.ports = [{ name: "http", port: 9090 }];
      },
    ],
    [
      "zone",
      (s) => {
        s.endpoints[0].zone = "z2";
      },
    ],
    [
      "zone removed",
      (s) => {
        s.endpoints[0].zone = "";
      },
    ],
    [
      "node",
      (s) => {
        s.endpoints[0].nodeName = "node-2";
      },
    ],
    [
      "not ready",
      (s) => {
        s.endpoints[0].conditions.ready = false;
      },
    ],
    [
      "ready unset",
      (s) => {
        s.endpoints[0].conditions.ready = undefined;
      },
    ],
    [
      "not serving",
      (s) => {
        s.endpoints[0].conditions.serving = false;
      },
    ],
    [
      "terminating",
      (s) => {
        s.endpoints[0].conditions.terminating = true;
      },
    ],
    [
      "uid",
      (s) => {
        s.endpoints[0].targetRef.uid = "uid-other";
      },
    ],
  ];
  for (const [what, change] of changes) {
    const s = base();
    change(s);
    const fresh = parseEndpointSlices([s], port).members.get("web-0");
    const kept = parseEndpointSlices([s], port, last).members.get("web-0");
    assert.deepEqual(kept, fresh, what);
    // Reused exactly when nothing the member holds differs.
    let same = true;
    try {
      assert.deepStrictEqual(fresh, before);
    } catch {
      same = false;
    }
    assert.equal(
      kept === before,
      same,
      `${what}: ${same ? "equal, so the same object" : "changed, so a new object"}`,
    );
  }
  // Removed, then listed again with the same address: measured against the view without it.
  const gone = parseEndpointSlices([slice("web-a", [])], port, last).members;
  assert.equal(gone.size, 0);
  const back = parseEndpointSlices([base()], port, gone).members.get("web-0");
  assert.notEqual(back, before);
  assert.deepEqual(back, before);
});
