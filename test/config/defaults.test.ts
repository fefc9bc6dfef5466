import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../config/file/load.js";
import { BARE } from "./fixtures.js";

function load(text: string) {
  const r = parseConfig(text, {}, "t.yaml", { baseDir: "/srv/sg" });
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.errors, null, 2));
  return r.config;
}

test("top-level sections default when omitted", () => {
  const c = load(BARE);
  assert.deepEqual(c.listen, {
    http: { host: "127.0.0.1", port: 8080 },
    admin: { host: "127.0.0.1", port: 9901 },
    timeouts: { request: 60_000, headers: 10_000, idle: 60_000, keepAlive: 5_000 },
    maxHeaderSize: 16 * 1024,
    maxConnections: 10_000,
    clientHalfClose: "abort",
    http2: { enabled: true, maxConcurrentStreams: 100 },
  });
  assert.deepEqual(c.admin, {
    token: "",
    fleet: [],
    maxConnections: 64,
    maxBodySize: 64 * 1024,
    timeouts: {},
  });
  assert.deepEqual(c.tracing, {
    enabled: false,
    otlpEndpoint: "http://127.0.0.1:4318/v1/traces",
    serviceName: "shardgate",
    sampleRatio: 1,
  });
  assert.deepEqual(c.log, { level: "info", accessLog: true });
  assert.deepEqual(c.headers, {});
  assert.equal(c.cluster, undefined);
  assert.deepEqual(c.discovery, {
    consul: { address: "http://127.0.0.1:8500", token: "", wait: 30_000, rateLimit: 2 },
    debounce: 200,
  });
  assert.equal(load(`${BARE}discovery: { debounce: 20ms }\n`).discovery.debounce, 20);
  assert.equal(load(`${BARE}discovery: { debounce: 0 }\n`).discovery.debounce, 0);
});

test("every pool setting has its documented default", () => {
  const p = load(BARE).pools.p;
  assert.deepEqual(p, {
    algorithm: "ring",
    pointsPerWeight: 160,
    tableSize: 65537,
    members: [{ id: "a", address: { host: "10.0.0.1", port: 80 }, weight: 1 }],
    timeouts: { connect: 1_000, response: 30_000, tunnelIdle: 60_000 },
    retry: {
      attempts: 2,
      methods: ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"],
      on: ["connect-failure", "reset"],
      budgetRatio: 0.2,
      minRetriesPerSecond: 10,
    },
    breaker: {
      enabled: true,
      consecutiveFailures: 5,
      failureRate: 0.5,
      window: 10_000,
      minRequests: 20,
      openFor: 5_000,
      maxOpenFor: 60_000,
      halfOpenProbes: 3,
      failureStatuses: [502, 503, 504],
    },
  });
});

test("health check, consul discovery and passive ejection defaults", () => {
  const c = load(`pools:
  p:
    discovery: { consul: { service: api } }
    healthCheck: { path: /hc }
    passiveEjection: {}
routes: [{ pool: p, key: [ip] }]
`);
  const p = c.pools.p;
  assert.deepEqual(p.members, []);
  assert.deepEqual(p.discovery, {
    consul: { service: "api", passingOnly: true, tags: [], warningIsHealthy: false },
  });
  assert.deepEqual(p.healthCheck, {
    path: "/hc",
    interval: 5_000,
    timeout: 1_000,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
    expectStatus: [{ from: 200, to: 399 }],
  });
  assert.deepEqual(p.passiveEjection, {
    consecutiveFailures: 5,
    interval: 10_000,
    baseEjectionTime: 30_000,
    maxEjectionPercent: 50,
  });
});

test("every route setting has its documented default", () => {
  const r = load(BARE).routes[0];
  assert.deepEqual(r, {
    match: { host: { kind: "any" }, pathPrefix: "/" },
    pool: "p",
    key: [{ kind: "ip" }],
    onMissingKey: "random",
    cookie: { name: "sg_key", ttl: 86_400_000, secure: false, httpOnly: true, sameSite: "lax", path: "/" },
    trustedProxies: [],
  });
});

test("cluster defaults: listen from own peer entry, voters = all peers, dataDir resolved", () => {
  const c = load(`${BARE}cluster:
  id: b
  secret: 0123456789abcdef
  peers:
    - { id: a, address: "10.0.0.1:7000" }
    - { id: b, address: "10.0.0.2:7000" }
    - { id: c, address: "[fd00::3]:7000" }
`);
  assert.deepEqual(c.cluster, {
    id: "b",
    listen: { host: "10.0.0.2", port: 7000 },
    peers: [
      { id: "a", address: { host: "10.0.0.1", port: 7000 } },
      { id: "b", address: { host: "10.0.0.2", port: 7000 } },
      { id: "c", address: { host: "fd00::3", port: 7000 } },
    ],
    voters: ["a", "b", "c"],
    secret: "0123456789abcdef",
    dataDir: "/srv/sg/data",
    electionTimeout: 1_000,
    heartbeat: 100,
    joinTimeout: 60_000,
  });
});

test("a single-node cluster needs no peers and no secret", () => {
  const c = load(`${BARE}cluster: { id: solo }\n`);
  assert.equal(c.cluster?.id, "solo");
  assert.deepEqual(c.cluster?.voters, ["solo"]);
  assert.equal(c.cluster?.listen, null, "no peers, no listen: no Raft listener (and no default port)");
});

test("explicit values override defaults and are normalized", () => {
  const c = load(`listen:
  http: "[::1]:0"
  timeouts: { request: 1m30s, headers: 2500, idle: 1.5s, keepAlive: 0 }
  maxHeaderSize: 32KB
  clientHalfClose: answer
log: { level: debug, accessLog: false }
headers: { memberHeader: x-sg-member, ringVersionHeader: x-sg-ring }
pools:
  p:
    algorithm: maglev
    tableSize: 655373
    balanceFactor: 1.25
    members: [{ id: a, address: "Upstream.Local:8080", weight: 3 }]
    retry: { attempts: 3, methods: [get, post], on: [timeout, gateway-error] }
    healthCheck: { path: /hc, expectStatus: [200, "204-206"] }
routes:
  - match: { host: "*.Example.com", pathPrefix: /api }
    pool: p
    key: ["header:X-User", "query:tenant", "path:2", "cookie:sid"]
    onMissingKey: cookie
    cookie: { name: sid, sameSite: none, secure: true, ttl: 1h }
    trustedProxies: ["10.0.0.0/8", "::1"]
  - match: { host: api.example.com }
    pool: p
    key: [ip]
`);
  assert.deepEqual(c.listen.http, { host: "::1", port: 0 });
  assert.deepEqual(c.listen.timeouts, { request: 90_000, headers: 2_500, idle: 1_500, keepAlive: 0 });
  assert.equal(c.listen.maxHeaderSize, 32 * 1024);
  assert.equal(c.listen.clientHalfClose, "answer");
  assert.deepEqual(c.log, { level: "debug", accessLog: false });
  assert.deepEqual(c.headers, { memberHeader: "x-sg-member", ringVersionHeader: "x-sg-ring" });
  const p = c.pools.p;
  assert.equal(p.algorithm, "maglev");
  assert.equal(p.tableSize, 655373);
  assert.equal(p.balanceFactor, 1.25);
  assert.deepEqual(p.members[0].address, { host: "upstream.local", port: 8080 });
  assert.deepEqual(p.retry.methods, ["GET", "POST"]);
  assert.deepEqual(p.retry.on, ["timeout", "gateway-error"]);
  assert.deepEqual(p.healthCheck?.expectStatus, [
    { from: 200, to: 200 },
    { from: 204, to: 206 },
  ]);
  const r = c.routes[0];
  assert.deepEqual(r.match, { host: { kind: "suffix", suffix: ".example.com" }, pathPrefix: "/api" });
  assert.deepEqual(r.key, [
    { kind: "header", name: "x-user" },
    { kind: "query", name: "tenant" },
    { kind: "path", index: 2 },
    { kind: "cookie", name: "sid" },
  ]);
  assert.equal(r.cookie.ttl, 3_600_000);
  assert.deepEqual(r.trustedProxies, [
    { address: "10.0.0.0", prefix: 8, family: "ipv4" },
    { address: "::1", prefix: 128, family: "ipv6" },
  ]);
  assert.deepEqual(c.routes[1].match.host, { kind: "exact", host: "api.example.com" });
});

test("YAML anchors and merge keys work; top-level x-* keys are ignored so they can hold anchors", () => {
  const c = load(`x-pool-defaults: &pool-defaults
  algorithm: maglev
  timeouts: { connect: 250ms }
pools:
  a:
    <<: *pool-defaults
    members: [{ id: a1, address: "h:1" }]
  b:
    <<: *pool-defaults
    members: [{ id: b1, address: "h:2" }]
routes:
  - pool: a
    key: [ip]
`);
  assert.equal(c.pools.a.algorithm, "maglev");
  assert.equal(c.pools.b.algorithm, "maglev");
  assert.equal(c.pools.b.timeouts.connect, 250);
  assert.equal(c.pools.b.members[0].id, "b1");
  assert.equal((c as Record<string, unknown>)["x-pool-defaults"], undefined);
});
