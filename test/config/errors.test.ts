import assert from "node:assert/strict";
import { test } from "node:test";
import { type ConfigError, formatConfigErrors } from "../../config/file/config-error.js";
import { parseConfig } from "../../config/file/load.js";

function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigError[] {
  const r = parseConfig(text, env, "t.yaml");
  assert.ok(!r.ok, `expected errors for:\n${text}`);
  return r.errors;
}

const POOL = `pools:
  p:
    members: [{ id: a, address: "10.0.0.1:80" }]
`;
const ROUTE = `routes:
  - pool: p
    key: [ip]
`;

interface Case {
  name: string;
  text: string;
  path: string;
  expected: RegExp;
  found?: RegExp;
}

const CASES: Case[] = [
  {
    name: "wrong type",
    text: `pools:\n  p:\n    members: [{ id: a, address: "10.0.0.1:80", weight: heavy }]\n${ROUTE}`,
    path: "pools.p.members[0].weight",
    expected: /positive integer/,
    found: /"heavy"/,
  },
  {
    name: "non-positive weight",
    text: `pools:\n  p:\n    members: [{ id: a, address: "10.0.0.1:80", weight: 0 }]\n${ROUTE}`,
    path: "pools.p.members[0].weight",
    expected: /positive integer/,
    found: /^0$/,
  },
  {
    name: "missing required field",
    text: `${POOL}routes:\n  - key: [ip]\n`,
    path: "routes[0].pool",
    expected: /string/,
    found: /missing/,
  },
  { name: "missing pools", text: ROUTE, path: "pools", expected: /mapping/, found: /missing/ },
  { name: "empty routes", text: `${POOL}routes: []\n`, path: "routes", expected: /at least 1 item/ },
  {
    name: "unknown key with suggestion",
    text: `${POOL}${ROUTE}    onMisingKey: reject\n`,
    path: "routes[0].onMisingKey",
    expected: /onMissingKey/,
    found: /unknown key/,
  },
  {
    name: "unknown top-level section",
    // "metrics" is a section now (metrics.memberHistograms); this one is not.
    text: `${POOL}${ROUTE}telemetry: {}\n`,
    path: "telemetry",
    expected: /listen/,
    found: /unknown key "telemetry"/,
  },
  {
    name: "bad metrics.memberHistograms",
    text: `${POOL}${ROUTE}metrics: { memberHistograms: sometimes }\n`,
    path: "metrics.memberHistograms",
    expected: /"auto", "on", "off"/,
    found: /"sometimes"/,
  },
  {
    name: "bad enum value",
    text: `pools:\n  p:\n    algorithm: rnig\n    members: [{ id: a, address: "10.0.0.1:80" }]\n${ROUTE}`,
    path: "pools.p.algorithm",
    expected: /"ring", "maglev"/,
    found: /"rnig"/,
  },
  {
    name: "bad duration",
    text: `pools:\n  p:\n    members: [{ id: a, address: "10.0.0.1:80" }]\n    timeouts: { connect: 1s1m }\n${ROUTE}`,
    path: "pools.p.timeouts.connect",
    expected: /duration/,
  },
  {
    name: "bad size",
    text: `listen: { maxHeaderSize: 16 kilobytes }\n${POOL}${ROUTE}`,
    path: "listen.maxHeaderSize",
    expected: /size/,
  },
  {
    name: "port out of range",
    text: `pools:\n  p:\n    members: [{ id: a, address: "10.0.0.1:70000" }]\n${ROUTE}`,
    path: "pools.p.members[0].address",
    expected: /host:port/,
  },
  {
    name: "unbracketed IPv6",
    text: `listen: { admin: "::1:9901" }\n${POOL}${ROUTE}`,
    path: "listen.admin",
    expected: /brackets/,
  },
  {
    name: "unknown key kind",
    text: `${POOL}routes:\n  - pool: p\n    key: [ip, "body:user"]\n`,
    path: "routes[0].key[1]",
    expected: /header:NAME/,
    found: /"body:user"/,
  },
  {
    name: "table size not prime",
    text: `pools:\n  p:\n    algorithm: maglev\n    tableSize: 65536\n    members: [{ id: a, address: "10.0.0.1:80" }]\n${ROUTE}`,
    path: "pools.p.tableSize",
    expected: /prime/,
  },
  {
    name: "more members than maglev table slots",
    text: `pools:\n  p:\n    algorithm: maglev\n    tableSize: 3\n    members: [{ id: a, address: "h:1" }, { id: b, address: "h:2" }, { id: c, address: "h:3" }, { id: d, address: "h:4" }]\n${ROUTE}`,
    path: "pools.p.members",
    expected: /at most tableSize \(3\) members; raise tableSize to a prime >= 4/,
    found: /^4 members$/,
  },
  {
    name: "weights that make the ring too large to build",
    text: `pools:\n  p:\n    members: [{ id: a, address: "h:1", weight: 1000000 }]\n${ROUTE}`,
    path: "pools.p.members",
    expected: /pointsPerWeight <= 67108864/,
    found: /^160000000 ring points$/,
  },
  {
    name: "balance factor below 1",
    text: `pools:\n  p:\n    balanceFactor: 0.5\n    members: [{ id: a, address: "10.0.0.1:80" }]\n${ROUTE}`,
    path: "pools.p.balanceFactor",
    expected: />= 1/,
  },
  {
    name: "bad pool name",
    text: `pools:\n  "my pool":\n    members: [{ id: a, address: "h:1" }]\n${ROUTE}`,
    path: 'pools["my pool"]',
    expected: /pool name/,
  },
  {
    name: "route names an undefined pool",
    text: `${POOL}routes:\n  - pool: q\n    key: [ip]\n`,
    path: "routes[0].pool",
    expected: /pool defined under "pools" \(p\)/,
    found: /"q"/,
  },
  {
    name: "duplicate member ids",
    text: `pools:\n  p:\n    members: [{ id: a, address: "h:1" }, { id: a, address: "h:2" }]\n${ROUTE}`,
    path: "pools.p.members[1].id",
    expected: /unique/,
  },
  {
    name: "pool without members or discovery",
    text: `pools:\n  p: { algorithm: ring }\n${ROUTE}`,
    path: "pools.p",
    expected: /members or discovery/,
  },
  {
    name: "health check timeout above interval",
    text: `pools:\n  p:\n    members: [{ id: a, address: "h:1" }]\n    healthCheck: { path: /hc, interval: 1s, timeout: 2s }\n${ROUTE}`,
    path: "pools.p.healthCheck.timeout",
    expected: /interval/,
  },
  {
    name: "duration longer than a Node timer can wait",
    text: `pools:\n  p:\n    members: [{ id: a, address: "h:1" }]\n    healthCheck: { path: /hc, interval: 30d }\n${ROUTE}`,
    path: "pools.p.healthCheck.interval",
    expected: /at most 2147483647ms/,
    found: /"30d"/,
  },
  {
    name: "cookie ttl beyond the browsers' 400-day cap",
    text: `${POOL}routes:\n  - pool: p\n    key: ["cookie:sg_key"]\n    cookie: { ttl: 401d }\n`,
    path: "routes[0].cookie.ttl",
    expected: /at most 34560000000ms/,
  },
  {
    name: "breaker maxOpenFor below openFor",
    text: `pools:\n  p:\n    members: [{ id: a, address: "h:1" }]\n    breaker: { openFor: 10s, maxOpenFor: 5s }\n${ROUTE}`,
    path: "pools.p.breaker.maxOpenFor",
    expected: /openFor/,
  },
  {
    name: "health path without slash",
    text: `pools:\n  p:\n    members: [{ id: a, address: "h:1" }]\n    healthCheck: { path: health }\n${ROUTE}`,
    path: "pools.p.healthCheck.path",
    expected: /starting with "\/"/,
  },
  {
    name: "sameSite none without secure",
    text: `${POOL}routes:\n  - pool: p\n    key: [ip]\n    cookie: { sameSite: none }\n`,
    path: "routes[0].cookie.secure",
    expected: /true/,
  },
  {
    name: "cookie policy without reading the cookie",
    text: `${POOL}routes:\n  - pool: p\n    key: [ip]\n    onMissingKey: cookie\n`,
    path: "routes[0].onMissingKey",
    expected: /cookie:sg_key/,
  },
  {
    name: "route shadowed by an identical earlier route",
    text: `${POOL}${ROUTE}  - pool: p\n    key: [ip]\n`,
    path: "routes[1].match",
    expected: /not used by an earlier route/,
  },
  {
    name: "bad host pattern",
    text: `${POOL}routes:\n  - pool: p\n    key: [ip]\n    match: { host: "a.*.com" }\n`,
    path: "routes[0].match.host",
    expected: /host pattern/,
  },
  {
    name: "bad CIDR",
    text: `${POOL}routes:\n  - pool: p\n    key: [ip]\n    trustedProxies: [10.0.0.0/33]\n`,
    path: "routes[0].trustedProxies[0]",
    expected: /CIDR/,
  },
  {
    name: "cluster id not among peers",
    text: `${POOL}${ROUTE}cluster:\n  id: x\n  secret: 0123456789abcdef\n  peers: [{ id: a1, address: "h:1" }, { id: a2, address: "h:2" }]\n`,
    path: "cluster.id",
    expected: /a1, a2/,
  },
  {
    name: "short cluster secret",
    text: `${POOL}${ROUTE}cluster:\n  id: a1\n  secret: short\n  peers: [{ id: a1, address: "h:1" }, { id: a2, address: "h:2" }]\n`,
    path: "cluster.secret",
    expected: /16 characters/,
    found: /5 characters/,
  },
  {
    name: "voter not among peers",
    text: `${POOL}${ROUTE}cluster:\n  id: a1\n  voters: [a1, a3]\n  peers: [{ id: a1, address: "h:1" }]\n`,
    path: "cluster.voters[1]",
    expected: /peer ids/,
  },
  {
    name: "heartbeat too close to election timeout",
    text: `${POOL}${ROUTE}cluster: { id: a1, heartbeat: 800ms, electionTimeout: 1s }\n`,
    path: "cluster.heartbeat",
    expected: /electionTimeout/,
  },
  {
    name: "consul address not a URL",
    text: `${POOL}${ROUTE}discovery: { consul: { address: "consul:8500" } }\n`,
    path: "discovery.consul.address",
    expected: /URL/,
  },
  {
    name: "discovery debounce over a minute",
    text: `${POOL}${ROUTE}discovery: { debounce: 2m }\n`,
    path: "discovery.debounce",
    expected: /at most 60000ms/,
  },
];

for (const c of CASES) {
  test(`error: ${c.name} -> ${c.path}`, () => {
    const errors = errorsOf(c.text);
    const e = errors.find((x) => x.path === c.path);
    assert.ok(e, `no error at ${c.path}; got ${JSON.stringify(errors, null, 2)}`);
    assert.match(e.expected, c.expected);
    if (c.found) assert.match(e.found, c.found);
    assert.ok(e.message.length > 0);
    assert.equal(typeof e.line, "number", `no line for ${c.path}`);
  });
}

test("unknown keys come with a did-you-mean from the schema's keys", () => {
  const [e] = errorsOf(`pools:\n  p:\n    members: [{ id: a, address: "h:1", wieght: 2 }]\n${ROUTE}`);
  assert.equal(e.path, "pools.p.members[0].wieght");
  assert.match(e.message, /did you mean "weight"\?/);
  assert.deepEqual([e.line, e.column], [3, 40]);
});

test("errors point at the offending line and column", () => {
  const text = `pools:
  p:
    members:
      - id: a
        address: "10.0.0.1:80"
        weight: -1
routes:
  - pool: p
    key: [ip, "nope"]
`;
  const errors = errorsOf(text);
  const byPath = new Map(errors.map((e) => [e.path, e]));
  assert.deepEqual(
    [byPath.get("pools.p.members[0].weight")?.line, byPath.get("pools.p.members[0].weight")?.column],
    [6, 17],
  );
  assert.deepEqual([byPath.get("routes[0].key[1]")?.line, byPath.get("routes[0].key[1]")?.column], [9, 15]);
});

test("a missing key is reported at its parent mapping", () => {
  const [e] = errorsOf(`${POOL}routes:\n  - key: [ip]\n`);
  assert.equal(e.path, "routes[0].pool");
  assert.equal(e.line, 5);
});

test("many errors are reported together, one per problem", () => {
  const text = `listen:
  htp: 127.0.0.1:8080
  timeouts: { request: soon }
log: { level: loud }
pools:
  users:
    algoritm: ring
    members:
      - { id: u1, address: "127.0.0.1" }
      - { id: u1, address: "127.0.0.1:9102", weight: -2 }
  empty: {}
routes:
  - pool: user
    key: [header:x-user-id, cookies:uid]
    onMissingKey: sometimes
cluster: { id: a, peers: [{ id: b, address: "h:1" }, { id: c, address: "h:2" }] }
`;
  const errors = errorsOf(text);
  const paths = errors.map((e) => e.path).sort();
  assert.deepEqual(paths, [
    "cluster.id",
    "cluster.secret",
    "listen.htp",
    "listen.timeouts.request",
    "log.level",
    "pools.empty",
    "pools.users.algoritm",
    "pools.users.members[0].address",
    "pools.users.members[1].id",
    "pools.users.members[1].weight",
    "routes[0].key[1]",
    "routes[0].onMissingKey",
    "routes[0].pool",
  ]);
  const text2 = formatConfigErrors(errors, "t.yaml");
  assert.equal(text2.split("\n").length, errors.length);
  for (const line of text2.split("\n")) assert.match(line, /^t\.yaml:\d+:\d+: \S+: .+/);
});

test("a file that is not a mapping, or empty, is one clear error", () => {
  for (const text of ["", "# only a comment\n", "- a\n- b\n", "just a string\n"]) {
    const errors = errorsOf(text);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.equal(errors[0].path, "");
    assert.match(errors[0].expected, /mapping/);
  }
});

test("bad YAML syntax reports the first error with its position", () => {
  const errors = errorsOf("pools:\n  p: { members: [ }\nroutes: [\n");
  assert.equal(errors.length, 1);
  assert.equal(errors[0].expected, "valid YAML");
  assert.equal(errors[0].line, 2);
  assert.match(errors[0].message, /YAML syntax error/);
});

test("duplicate keys are an error naming the key's path", () => {
  const errors = errorsOf(`${POOL}${ROUTE}pools: {}\n`);
  assert.equal(errors[0].path, "pools");
  assert.match(errors[0].message, /^duplicate key "pools" \(first at line 1\)/);
});

test("an unquoted variable reference inside a flow mapping gets a quoting hint", () => {
  const errors = errorsOf(`pools:\n  p:\n    members: [{ id: a, address: \${ADDR} }]\n${ROUTE}`, {
    ADDR: "h:1",
  });
  assert.match(errors[0].message, /quote values/);
});

test("formatConfigErrors prints one readable line per error", () => {
  const out = formatConfigErrors(
    [
      { path: "b", expected: "x", found: "y", message: "expected x, found y", line: 9, column: 3 },
      { path: "a.c[0]", expected: "x", found: "y", message: "expected x, found y", line: 2, column: 1 },
      {
        path: "",
        expected: "a readable config file",
        found: "f (ENOENT)",
        message: "cannot read config file f",
      },
    ],
    "f.yaml",
  );
  assert.equal(
    out,
    [
      "f.yaml: (top level): cannot read config file f",
      "f.yaml:2:1: a.c[0]: expected x, found y",
      "f.yaml:9:3: b: expected x, found y",
    ].join("\n"),
  );
});

test("pathological nesting is an error, not a crash", () => {
  const deep = `${"[".repeat(5000)}${"]".repeat(5000)}`;
  const r = parseConfig(`pools: ${deep}\n`, {}, "deep.yaml");
  assert.ok(!r.ok);
  assert.ok(r.errors.length >= 1);
});

test("a zero period (probe interval, heartbeat, cool-down) is rejected: it would make a loop spin", () => {
  const text = `pools:
  p:
    members: [{ id: a, address: "10.0.0.1:80" }]
    healthCheck: { path: /h, interval: 0, timeout: 0ms }
    breaker: { openFor: 0s }
cluster:
  id: a
  heartbeat: 0
${ROUTE}`;
  const errors = errorsOf(text);
  const paths = errors.map((e) => e.path).sort();
  assert.deepEqual(
    paths,
    [
      "cluster.heartbeat",
      "pools.p.breaker.openFor",
      "pools.p.healthCheck.interval",
      "pools.p.healthCheck.timeout",
    ],
    JSON.stringify(errors),
  );
  for (const e of errors) assert.match(e.expected, /at least 1ms/, e.path);
});
