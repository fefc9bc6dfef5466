import assert from "node:assert/strict";
import { test } from "node:test";
import { validateCommand } from "../../config/state/commands.js";
import { ROUTING_YAML, routingFrom } from "./cluster-fixtures.js";

const bytes = (v: unknown): Uint8Array =>
  new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

test("every command type validates and comes back normalized", () => {
  const routing = routingFrom(ROUTING_YAML);
  const good: unknown[] = [
    { v: 1, type: "SetRouting", routing },
    {
      v: 1,
      type: "SetMembers",
      pool: "search",
      source: "consul",
      members: [{ id: "s1", address: "10.0.0.9:80", healthy: false }],
    },
    { v: 1, type: "SetHealth", pool: "users", health: [{ member: "u1", healthy: false }] },
    {
      v: 1,
      type: "SetBreaker",
      pool: "users",
      member: "u1",
      state: "open",
      since: 1000,
      until: 6000,
      trips: 1,
    },
    { v: 1, type: "SetBreaker", pool: "users", member: "u1", state: "closed", since: 7000 },
    { v: 1, type: "Drain", pool: "users", member: "u2" },
    { v: 1, type: "Undrain", pool: "users", member: "u2" },
    {
      v: 1,
      type: "SetPoolSettings",
      pool: "users",
      settings: { breaker: { openFor: "10s" }, balanceFactor: null },
    },
  ];
  for (const c of good) {
    const r = validateCommand(bytes(c));
    assert.ok(r.ok, `${JSON.stringify(c)}: ${!r.ok && r.error}`);
  }
  const m = validateCommand(bytes(good[1]));
  assert.ok(m.ok && m.command.type === "SetMembers");
  assert.deepEqual(m.command.members, [
    { id: "s1", address: { host: "10.0.0.9", port: 80 }, weight: 1, healthy: false },
  ]);
  const b = validateCommand(bytes(good[4]));
  assert.ok(b.ok && b.command.type === "SetBreaker");
  assert.deepEqual([b.command.until, b.command.trips], [0, 0]);
});

test("SetRouting accepts raw (file-form) routing and normalizes it like the loader", () => {
  const raw = {
    pools: { p: { members: [{ id: "a", address: "h:1" }] } },
    routes: [{ pool: "p", key: ["ip"] }],
  };
  const r = validateCommand(bytes({ v: 1, type: "SetRouting", routing: raw }));
  assert.ok(r.ok && r.command.type === "SetRouting", !r.ok ? r.error : "");
  assert.deepEqual(r.command.routing.pools.p.members[0].address, { host: "h", port: 1 });
  assert.equal(r.command.routing.pools.p.tableSize, 65537);
});

const BAD: Array<[string, unknown, RegExp]> = [
  ["not JSON", "{nope", /not valid UTF-8 JSON/],
  ["not UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), /not valid UTF-8 JSON/],
  ["not an object", [1, 2], /JSON object/],
  ["missing version", { type: "Drain", pool: "p", member: "a" }, /unsupported command version/],
  ["future version", { v: 2, type: "Drain", pool: "p", member: "a" }, /unsupported command version 2/],
  ["unknown type", { v: 1, type: "SetWeights" }, /unknown command type "SetWeights"/],
  ["misspelled type", { v: 1, type: "Drian", pool: "p", member: "a" }, /did you mean "Drain"/],
  ["unknown field", { v: 1, type: "Drain", pool: "p", member: "a", force: true }, /unknown key "force"/],
  ["missing field", { v: 1, type: "Drain", pool: "p" }, /member/],
  [
    "bad address",
    { v: 1, type: "SetMembers", pool: "p", source: "static", members: [{ id: "a", address: "nope" }] },
    /members\[0\]\.address/,
  ],
  ["bad source", { v: 1, type: "SetMembers", pool: "p", source: "dns", members: [] }, /source/],
  [
    "duplicate members",
    {
      v: 1,
      type: "SetMembers",
      pool: "p",
      source: "static",
      members: [
        { id: "a", address: "h:1" },
        { id: "a", address: "h:2" },
      ],
    },
    /duplicate member id "a"/,
  ],
  ["empty health batch", { v: 1, type: "SetHealth", pool: "p", health: [] }, /health/],
  [
    "duplicate health",
    {
      v: 1,
      type: "SetHealth",
      pool: "p",
      health: [
        { member: "a", healthy: true },
        { member: "a", healthy: false },
      ],
    },
    /twice/,
  ],
  [
    "bad breaker state",
    { v: 1, type: "SetBreaker", pool: "p", member: "a", state: "ajar", since: 0 },
    /state/,
  ],
  [
    "open breaker ends before it starts",
    { v: 1, type: "SetBreaker", pool: "p", member: "a", state: "open", since: 10, until: 5 },
    /until >= since/,
  ],
  [
    "closed breaker with until",
    { v: 1, type: "SetBreaker", pool: "p", member: "a", state: "closed", since: 10, until: 50 },
    /only an open breaker/,
  ],
  [
    "negative time",
    { v: 1, type: "SetBreaker", pool: "p", member: "a", state: "closed", since: -1 },
    /since/,
  ],
  ["empty settings", { v: 1, type: "SetPoolSettings", pool: "p", settings: {} }, /changes nothing/],
  [
    "unknown setting",
    { v: 1, type: "SetPoolSettings", pool: "p", settings: { algoritm: "ring" } },
    /did you mean "algorithm"/,
  ],
  [
    "members are not a setting",
    { v: 1, type: "SetPoolSettings", pool: "p", settings: { members: [] } },
    /not a run-time pool setting/,
  ],
  ["bad setting value", { v: 1, type: "SetPoolSettings", pool: "p", settings: { tableSize: 100 } }, /prime/],
  [
    "bad nested setting",
    { v: 1, type: "SetPoolSettings", pool: "p", settings: { breaker: { openFor: "soon" } } },
    /settings\.breaker\.openFor/,
  ],
  [
    "unknown nested setting",
    { v: 1, type: "SetPoolSettings", pool: "p", settings: { retry: { attempt: 3 } } },
    /did you mean "attempts"/,
  ],
  [
    "non-removable setting",
    { v: 1, type: "SetPoolSettings", pool: "p", settings: { algorithm: null } },
    /cannot be removed/,
  ],
  [
    "routing with a dangling route",
    {
      v: 1,
      type: "SetRouting",
      routing: {
        pools: { p: { members: [{ id: "a", address: "h:1" }] } },
        routes: [{ pool: "q", key: ["ip"] }],
      },
    },
    /undefined pool "q"/,
  ],
  ["routing that is not routing", { v: 1, type: "SetRouting", routing: "everything" }, /mapping/],
];

for (const [name, value, pattern] of BAD) {
  test(`validateCommand rejects: ${name}`, () => {
    const r = validateCommand(value instanceof Uint8Array ? value : bytes(value));
    assert.ok(!r.ok, name);
    assert.match(r.error, pattern);
    assert.ok(r.errors.length > 0);
  });
}
