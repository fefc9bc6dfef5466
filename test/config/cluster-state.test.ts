import assert from "node:assert/strict";
import { test } from "node:test";
import { ClusterState, EMPTY_CLUSTER_STATE } from "../../config/state/cluster-state.js";
import type { CommandInput } from "../../config/state/commands.js";
import { pick, seededRandom, testSeed } from "../support/prng.js";
import {
  consulSearchMembers,
  enc,
  openBreaker,
  ROUTING_YAML,
  routingFrom,
  setRouting,
} from "./cluster-fixtures.js";

const routing = routingFrom(ROUTING_YAML);

function seeded(): ClusterState {
  const s = new ClusterState();
  const c = s.apply(1, setRouting(routing));
  assert.ok(c.applied, c.error);
  return s;
}

/** The state without appliedIndex: what "no state change" means for a rejected entry. */
function stateOf(s: ClusterState): unknown {
  const { appliedIndex: _ignored, ...rest } = s.current;
  return rest;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

function randomCommand(rand: () => number): Uint8Array {
  const member = pick(rand, ["u1", "u2", "u3", "s-static", "c1", "c2", "ghost"]);
  const pool = pick(rand, ["users", "users", "search", "nope"]);
  const t = Math.floor(rand() * 1e6);
  const choices: Array<() => CommandInput | string> = [
    () => ({ v: 1, type: "SetHealth", pool, health: [{ member, healthy: rand() < 0.5 }] }),
    () => ({ v: 1, type: "Drain", pool, member }),
    () => ({ v: 1, type: "Undrain", pool, member }),
    () => ({ v: 1, type: "SetBreaker", pool, member, state: "open", since: t, until: t + 5000, trips: 1 }),
    () => ({
      v: 1,
      type: "SetBreaker",
      pool,
      member,
      state: pick(rand, ["closed", "half-open"] as const),
      since: t,
    }),
    () => ({
      v: 1,
      type: "SetMembers",
      pool: "search",
      source: "consul",
      members: ["c1", "c2", "c3"]
        .filter(() => rand() < 0.6)
        .map((id, i) => ({ id, address: `10.0.1.${i + 1}:80`, weight: 1 + Math.floor(rand() * 3) })),
    }),
    () => ({
      v: 1,
      type: "SetPoolSettings",
      pool,
      settings: { retry: { attempts: 1 + Math.floor(rand() * 3) } },
    }),
    () => ({ v: 1, type: "SetPoolSettings", pool, settings: { pointsPerWeight: pick(rand, [100, 160]) } }),
    () => ({
      v: 1,
      type: "SetRouting",
      routing: rand() < 0.5 ? routing : { ...routing, routes: [...routing.routes].reverse() },
    }),
    () => '{"v":1,"type":"Nope"}',
    () => "garbage",
  ];
  const c = pick(rand, choices)();
  return typeof c === "string" ? new TextEncoder().encode(c) : enc(c);
}

test("determinism: replicas applying the same entries hold byte-identical snapshots, also across restore", () => {
  const base = testSeed(0);
  for (const offset of [1, 2, 3, 42, 1337]) {
    const seed = base + offset;
    const rand = seededRandom(seed);
    const a = seeded();
    const b = seeded();
    const entries: Uint8Array[] = [];
    for (let i = 0; i < 150; i++) entries.push(randomCommand(rand));
    let c: ClusterState | undefined;
    entries.forEach((bytes, i) => {
      const index = i + 2;
      const ca = a.apply(index, bytes);
      const cb = b.apply(index, bytes);
      assert.deepEqual(ca, cb, `seed ${seed} entry ${index}`);
      assert.equal(text(a.snapshot()), text(b.snapshot()), `seed ${seed} entry ${index}`);
      if (i === 70) {
        c = new ClusterState();
        assert.deepEqual(c.restore(a.snapshot()), { ok: true });
      } else if (c !== undefined) {
        c.apply(index, bytes);
      }
    });
    assert.ok(c);
    assert.equal(text(c.snapshot()), text(a.snapshot()), `seed ${seed}: restored replica diverged`);
    assert.ok(a.ringVersion > 1, `seed ${seed}: nothing ever changed routing`);
  }
});

test("determinism: member and pool order in commands do not matter", () => {
  const a = seeded();
  const b = new ClusterState();
  const reordered = {
    routes: routing.routes,
    pools: { search: routing.pools.search, users: routing.pools.users },
  };
  b.apply(1, setRouting(reordered));
  const members = [
    { id: "c2", address: "10.0.1.2:80" },
    { id: "c1", address: "10.0.1.1:80" },
  ];
  a.apply(2, enc({ v: 1, type: "SetMembers", pool: "search", source: "consul", members }));
  b.apply(2, consulSearchMembers([...members].reverse()));
  assert.equal(text(a.snapshot()), text(b.snapshot()));
  assert.deepEqual(
    a.current.pools.search.members.map((m) => m.id),
    ["c1", "c2", "s-static"],
  );
});

test("snapshot/restore round trip", () => {
  const a = seeded();
  a.apply(2, enc({ v: 1, type: "Drain", pool: "users", member: "u2" }));
  a.apply(3, openBreaker("u1", 100, 5100, 2));
  a.apply(4, enc({ v: 1, type: "SetPoolSettings", pool: "users", settings: { balanceFactor: 1.25 } }));
  const b = new ClusterState();
  assert.deepEqual(b.restore(a.snapshot()), { ok: true });
  assert.deepEqual(b.current, a.current);
  assert.equal(text(b.snapshot()), text(a.snapshot()));
  assert.equal(b.appliedIndex, 4);
  assert.equal(b.ringVersion, a.ringVersion);
  // The restored replica keeps going like the original.
  const next = enc({ v: 1, type: "Undrain", pool: "users", member: "u2" });
  assert.deepEqual(b.apply(5, next), a.apply(5, next));
  assert.equal(text(b.snapshot()), text(a.snapshot()));
});

test("snapshots keep the drain flag's persisted key: the state says draining, the bytes say drained", () => {
  const a = seeded();
  a.apply(2, enc({ v: 1, type: "Drain", pool: "users", member: "u2" }));
  const bytes = text(a.snapshot());
  const u2 = (JSON.parse(bytes).pools.users.members as Array<Record<string, unknown>>).find(
    (m) => m.id === "u2",
  );
  const persistedKey = "drained"; // a constant: rename-11b.sh rewrites property reads of this name
  assert.equal(u2?.[persistedKey], true, "snapshots written before the rename and after it read the same");
  assert.equal(u2?.draining, undefined);
  // A snapshot as an older instance wrote it (the same bytes) restores with the flag set.
  const b = new ClusterState();
  assert.deepEqual(b.restore(new TextEncoder().encode(bytes)), { ok: true });
  assert.equal(b.current.pools.users.members.find((m) => m.id === "u2")?.draining, true);
  // A snapshot carrying the in-memory name is not the persisted form and is refused.
  const c = new ClusterState();
  const r = c.restore(new TextEncoder().encode(bytes.replaceAll('"drained"', '"draining"')));
  assert.equal(r.ok, false);
});

test("an empty state snapshots and restores too", () => {
  const a = new ClusterState();
  const b = new ClusterState();
  assert.deepEqual(b.restore(a.snapshot()), { ok: true });
  assert.deepEqual(b.current, EMPTY_CLUSTER_STATE);
});

test("a bad snapshot is refused and leaves the state untouched", () => {
  const a = seeded();
  const before = a.snapshot();
  const good = JSON.parse(text(before));
  const bad: Array<[string, Uint8Array]> = [
    ["garbage", new TextEncoder().encode("not json")],
    ["wrong format", new TextEncoder().encode(JSON.stringify({ ...good, format: "other" }))],
    ["future version", new TextEncoder().encode(JSON.stringify({ ...good, v: 2 }))],
    [
      "ring version after applied index",
      new TextEncoder().encode(JSON.stringify({ ...good, ringVersion: 99 })),
    ],
    [
      "unnormalized address",
      new TextEncoder().encode(
        JSON.stringify({
          ...good,
          pools: {
            ...good.pools,
            users: {
              ...good.pools.users,
              members: [
                { ...good.pools.users.members[0], address: "127.0.0.1:9101" },
                ...good.pools.users.members.slice(1),
              ],
            },
          },
        }),
      ),
    ],
    [
      "unsorted members",
      new TextEncoder().encode(
        JSON.stringify({
          ...good,
          pools: {
            ...good.pools,
            users: { ...good.pools.users, members: [...good.pools.users.members].reverse() },
          },
        }),
      ),
    ],
  ];
  for (const [name, bytes] of bad) {
    const r = a.restore(bytes);
    assert.ok(!r.ok, name);
    assert.match(r.error, /snapshot/, name);
    assert.equal(text(a.snapshot()), text(before), name);
  }
});

test("invalid commands are rejected with no state change (only appliedIndex advances)", () => {
  const a = seeded();
  a.apply(
    2,
    enc({ v: 1, type: "SetBreaker", pool: "users", member: "u1", state: "open", since: 1, until: 2 }),
  );
  const rejected: Array<[string, Uint8Array, RegExp]> = [
    ["garbage bytes", new TextEncoder().encode("\u0000\u0001"), /JSON/],
    ["unknown type", new TextEncoder().encode('{"v":1,"type":"Explode"}'), /unknown command type/],
    ["unknown pool", enc({ v: 1, type: "Drain", pool: "nope", member: "u1" }), /unknown pool "nope"/],
    ["drain unknown member", enc({ v: 1, type: "Drain", pool: "users", member: "u9" }), /no member "u9"/],
    [
      "consul members for a static pool",
      enc({ v: 1, type: "SetMembers", pool: "users", source: "consul", members: [] }),
      /no consul discovery/,
    ],
    [
      "consul member reusing a static id",
      consulSearchMembers([{ id: "s-static", address: "10.0.0.1:1" }]),
      /already a static member/,
    ],
    [
      "settings that break a cross-field rule",
      enc({ v: 1, type: "SetPoolSettings", pool: "users", settings: { breaker: { openFor: "2m" } } }),
      /maxOpenFor/,
    ],
    [
      "health check patch missing its path",
      enc({ v: 1, type: "SetPoolSettings", pool: "users", settings: { healthCheck: { interval: "1s" } } }),
      /healthCheck\.path/,
    ],
    [
      "members whose weights overflow the ring",
      enc({
        v: 1,
        type: "SetMembers",
        pool: "users",
        source: "static",
        members: [{ id: "u1", address: "127.0.0.1:9101", weight: 1_000_000 }],
      }),
      /pool "users": ring too large: .* found 160000000 ring points/,
    ],
    [
      "a reload whose table cannot hold the consul members it keeps",
      setRouting(
        routingFrom(ROUTING_YAML.replace("algorithm: maglev", "algorithm: maglev\n    tableSize: 3")),
      ),
      /pool "search": maglev table too small: .* found 4 members/,
    ],
    [
      "settings whose maglev table cannot hold the members",
      enc({ v: 1, type: "SetPoolSettings", pool: "search", settings: { tableSize: 3 } }),
      /invalid settings for pool "search": maglev table too small: .* found 4 members/,
    ],
  ];
  // search: one static and three consul members, so a 3-slot table is too small for it.
  const grown = a.apply(
    3,
    consulSearchMembers(["c1", "c2", "c3"].map((id, i) => ({ id, address: `10.0.1.${i + 1}:80` }))),
  );
  assert.ok(grown.applied, grown.error);
  let index = 4;
  for (const [name, bytes, pattern] of rejected) {
    const before = a.current;
    const beforeState = stateOf(a);
    const change = a.apply(index, bytes);
    assert.equal(change.applied, false, name);
    assert.match(change.error ?? "", pattern, name);
    assert.deepEqual(stateOf(a), beforeState, name);
    assert.equal(a.current.pools, before.pools, `${name}: pools object replaced`);
    assert.equal(a.appliedIndex, index, name);
    assert.deepEqual([change.ringChanged, change.poolsChanged, change.routesChanged], [[], [], false], name);
    index++;
  }
});

test("a replayed or out-of-order index is ignored without touching anything", () => {
  const a = seeded();
  const before = a.current;
  for (const index of [1, 0, -1, 1.5, Number.NaN]) {
    const c = a.apply(index, enc({ v: 1, type: "Drain", pool: "users", member: "u1" }));
    assert.equal(c.applied, false, String(index));
    assert.equal(a.current, before, String(index));
  }
});

test("ringVersion moves only with commands that change routing", () => {
  const a = new ClusterState();
  const steps: Array<[string, Uint8Array, boolean]> = [
    ["seed routing", setRouting(routing), true],
    ["same routing again", setRouting(routing), false],
    ["same routing in file form", setRouting(JSON.parse(JSON.stringify(routing))), false],
    [
      "member goes unhealthy",
      enc({ v: 1, type: "SetHealth", pool: "users", health: [{ member: "u1", healthy: false }] }),
      true,
    ],
    [
      "same health again",
      enc({ v: 1, type: "SetHealth", pool: "users", health: [{ member: "u1", healthy: false }] }),
      false,
    ],
    [
      "health for a member that left",
      enc({ v: 1, type: "SetHealth", pool: "users", health: [{ member: "gone", healthy: true }] }),
      false,
    ],
    ["drain", enc({ v: 1, type: "Drain", pool: "users", member: "u2" }), true],
    ["drain again", enc({ v: 1, type: "Drain", pool: "users", member: "u2" }), false],
    ["breaker opens", openBreaker("u3", 10, 20, 1), true],
    ["breaker re-opens with backoff", openBreaker("u3", 30, 50, 2), false],
    [
      "retry setting",
      enc({ v: 1, type: "SetPoolSettings", pool: "users", settings: { retry: { attempts: 3 } } }),
      false,
    ],
    [
      "timeouts setting",
      enc({ v: 1, type: "SetPoolSettings", pool: "users", settings: { timeouts: { connect: "2s" } } }),
      false,
    ],
    [
      "hashing setting",
      enc({ v: 1, type: "SetPoolSettings", pool: "users", settings: { algorithm: "maglev" } }),
      true,
    ],
    [
      "bounded load setting",
      enc({ v: 1, type: "SetPoolSettings", pool: "users", settings: { balanceFactor: 1.5 } }),
      true,
    ],
    ["consul members arrive", consulSearchMembers([{ id: "c1", address: "10.0.0.1:80" }]), true],
    ["same consul members", consulSearchMembers([{ id: "c1", address: "10.0.0.1:80" }]), false],
    ["weight change", consulSearchMembers([{ id: "c1", address: "10.0.0.1:80", weight: 4 }]), true],
    ["route order change", setRouting({ ...routing, routes: [...routing.routes].reverse() }), true],
    ["rejected command", enc({ v: 1, type: "Drain", pool: "nope", member: "x" }), false],
  ];
  let index = 0;
  let version = 0;
  for (const [name, bytes, bumps] of steps) {
    index++;
    const change = a.apply(index, bytes);
    if (bumps) version = index;
    assert.equal(a.ringVersion, version, name);
    assert.equal(change.ringVersion, version, name);
  }
});

test("the change description names exactly the pools to rebuild", () => {
  const a = seeded();
  const h = a.apply(
    2,
    enc({
      v: 1,
      type: "SetHealth",
      pool: "users",
      health: [
        { member: "u1", healthy: false },
        { member: "x", healthy: false },
      ],
    }),
  );
  assert.deepEqual(
    [h.ringChanged, h.poolsChanged, h.addedPools, h.removedPools, h.routesChanged],
    [["users"], ["users"], [], [], false],
  );
  assert.deepEqual(h.warnings, ['pool "users" has no member "x"; skipped']);
  assert.equal(a.current.pools.users.ringVersion, 2);
  assert.equal(a.current.pools.search.ringVersion, 1, "untouched pool keeps its version");

  const s = a.apply(
    3,
    enc({ v: 1, type: "SetPoolSettings", pool: "search", settings: { retry: { attempts: 1 } } }),
  );
  assert.deepEqual([s.ringChanged, s.poolsChanged], [[], ["search"]]);

  const reload = routingFrom(`pools:
  users:
    members:
      - { id: u1, address: "127.0.0.1:9101" }
      - { id: u4, address: "127.0.0.1:9104" }
  billing:
    members: [{ id: b1, address: "127.0.0.1:9301" }]
routes:
  - pool: users
    key: [ip]
  - match: { pathPrefix: /billing }
    pool: billing
    key: [ip]
`);
  const r = a.apply(4, setRouting(reload));
  assert.deepEqual(
    [r.ringChanged, r.addedPools, r.removedPools, r.routesChanged],
    [["billing", "users"], ["billing"], ["search"], true],
  );
  assert.equal(a.ringVersion, 4);
  const users = a.current.pools.users;
  assert.deepEqual(
    users.members.map((m) => [m.id, m.healthy]),
    [
      ["u1", false],
      ["u4", true],
    ],
    "a retained member keeps its reported health",
  );
});

test("reload keeps drain and breaker state for members that stay, resets health and breaker when the address moves", () => {
  const a = seeded();
  a.apply(2, enc({ v: 1, type: "Drain", pool: "users", member: "u1" }));
  a.apply(3, openBreaker("u1", 5, 10, 1));
  a.apply(4, openBreaker("u2", 5, 10, 1));
  a.apply(5, enc({ v: 1, type: "SetHealth", pool: "users", health: [{ member: "u2", healthy: false }] }));
  const moved = routingFrom(ROUTING_YAML.replace("127.0.0.1:9102", "127.0.0.1:9999"));
  a.apply(6, setRouting(moved));
  const [u1, u2] = a.current.pools.users.members;
  assert.deepEqual([u1.draining, u1.breaker.state], [true, "open"]);
  assert.deepEqual([u2.address.port, u2.healthy, u2.breaker.state], [9999, true, "closed"]);
});

test("SetMembers replaces one source's members and leaves the other's alone; consul members go with discovery", () => {
  const a = seeded();
  a.apply(2, consulSearchMembers([{ id: "c1", address: "10.0.0.1:80", healthy: false }]));
  assert.deepEqual(
    a.current.pools.search.members.map((m) => [m.id, m.source, m.healthy]),
    [
      ["c1", "consul", false],
      ["s-static", "static", true],
    ],
  );
  a.apply(3, enc({ v: 1, type: "SetMembers", pool: "search", source: "static", members: [] }));
  assert.deepEqual(
    a.current.pools.search.members.map((m) => m.id),
    ["c1"],
  );
  const withoutDiscovery = routingFrom(
    ROUTING_YAML.replace("    discovery: { consul: { service: search } }\n", ""),
  );
  a.apply(4, setRouting(withoutDiscovery));
  assert.deepEqual(
    a.current.pools.search.members.map((m) => m.id),
    ["s-static"],
  );
});

test("SetPoolSettings merges one level deep and null removes an optional setting", () => {
  const a = seeded();
  a.apply(
    2,
    enc({
      v: 1,
      type: "SetPoolSettings",
      pool: "users",
      settings: { breaker: { openFor: "10s" }, balanceFactor: 2 },
    }),
  );
  let s = a.current.pools.users.settings;
  assert.equal(s.breaker.openFor, 10_000);
  assert.equal(s.breaker.maxOpenFor, 60_000, "unpatched sibling kept");
  assert.equal(s.balanceFactor, 2);
  a.apply(3, enc({ v: 1, type: "SetPoolSettings", pool: "users", settings: { balanceFactor: null } }));
  s = a.current.pools.users.settings;
  assert.equal(s.balanceFactor, undefined);
  assert.equal(
    a.current.routing?.pools.users.breaker.openFor,
    5_000,
    "committed file routing is not rewritten",
  );
});

test("the state is immutable: readers keep a consistent old value while apply swaps in a new one", () => {
  const a = seeded();
  const old = a.current;
  const oldText = JSON.stringify(old);
  a.apply(2, enc({ v: 1, type: "Drain", pool: "users", member: "u1" }));
  assert.notEqual(a.current, old);
  assert.equal(JSON.stringify(old), oldText);
  assert.ok(Object.isFrozen(a.current.pools.users.members[0]));
  assert.throws(() => {
    (a.current.pools.users.members[0] as { draining: boolean }).draining = false;
  }, TypeError);
  assert.equal(a.current.pools.search, old.pools.search, "untouched pools are shared, not copied");
});

test("pool names that Object.prototype also has (constructor, toString) are ordinary pools", () => {
  const withCtor = routingFrom(`pools:
  constructor:
    members: [{ id: a, address: "10.0.0.1:80" }]
routes:
  - pool: constructor
    key: [ip]
`);
  const s = new ClusterState();
  const added = s.apply(1, setRouting(withCtor));
  assert.ok(added.applied, added.error);
  assert.deepEqual(added.addedPools, ["constructor"]);
  const drain = s.apply(2, enc({ v: 1, type: "Drain", pool: "toString", member: "a" }));
  assert.equal(drain.applied, false);
  assert.match(drain.error ?? "", /unknown pool "toString"/);
  const removed = s.apply(3, setRouting(routing));
  assert.ok(removed.applied, removed.error);
  assert.deepEqual(removed.removedPools, ["constructor"]);
});
