// Membership controller unit tests: a hand-driven watcher, a fake clock and a one-replica
// cluster that validates and applies every proposal. Nothing here sleeps on real time.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { consulAgentSchema, poolConsulSchema } from "../../config/file/schema.js";
import { ControllerError } from "../../health/controller/deps.js";
import { guardHealth } from "../../health/controller/panic-guard.js";
import { consulWatcherOptions } from "../../health/membership/watcher-options.js";
import {
  MembershipController,
  type MembershipControllerOptions,
  type PoolMembershipStatus,
} from "../../health/membership-controller.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { FakeClock, FakeWatcher, TestCluster } from "./controllers-fakes.js";

const SEED = testSeed(4242);
const why = (s: string) => `${s} (seed=${SEED})`;

const YAML = `pools:
  users:
    discovery: { consul: { service: users-api } }
  mixed:
    discovery: { consul: { service: mixed-api } }
    members:
      - { id: s1, address: "127.0.0.1:9301" }
  plain:
    members:
      - { id: p1, address: "127.0.0.1:9401" }
routes:
  - pool: users
    key: [header:x-user-id]
`;

function setup(opts: Partial<MembershipControllerOptions> = {}) {
  const clock = new FakeClock();
  const cluster = new TestCluster(YAML, clock);
  const watchers = new Map<string, FakeWatcher>();
  const created: string[] = [];
  const panics: PoolMembershipStatus[] = [];
  const c = new MembershipController({
    getState: cluster.getState,
    propose: cluster.propose,
    clock,
    watcherFactory: (pool, o) => {
      const w = new FakeWatcher();
      watchers.set(pool, w);
      created.push(`${pool}:${o.discovery.service}`);
      return w;
    },
    onPanic: (_p, s) => panics.push(s),
    ...opts,
  });
  cluster.onApplied = () => c.refresh();
  const w = (pool: string) => {
    const x = watchers.get(pool);
    if (x === undefined) throw new Error(`no watcher for ${pool}`);
    return x;
  };
  const members = (pool = "users") =>
    cluster.current.pools[pool].members.map(
      (m) => `${m.id}@${m.address.host}:${m.address.port}w${m.weight}${m.healthy ? "" : "!"}`,
    );
  return { clock, cluster, c, w, created, panics, members };
}

const FOUR = [
  { id: "u1", port: 9001 },
  { id: "u2", port: 9002 },
  { id: "u3", port: 9003 },
  { id: "u4", port: 9004 },
];

describe("MembershipController", () => {
  test("one watcher per consul pool; the first answer becomes one SetMembers after the debounce", async () => {
    const { clock, cluster, c, w, created, members } = setup();
    c.start();
    assert.deepEqual(created.sort(), ["mixed:mixed-api", "users:users-api"]);
    assert.equal(w("users").started, 1);
    w("users").set(FOUR);
    await clock.advance(199);
    assert.equal(cluster.proposals.length, 0, "nothing before the debounce window ends");
    await clock.advance(1);
    assert.deepEqual(cluster.committed(), [
      "SetMembers users u1@127.0.0.1:9001w1,u2@127.0.0.1:9002w1,u3@127.0.0.1:9003w1,u4@127.0.0.1:9004w1",
    ]);
    assert.deepEqual(members(), [
      "u1@127.0.0.1:9001w1",
      "u2@127.0.0.1:9002w1",
      "u3@127.0.0.1:9003w1",
      "u4@127.0.0.1:9004w1",
    ]);
    assert.equal(c.status().users.lastLatencyMs, 200);
    await clock.advance(5000);
    assert.equal(cluster.proposals.length, 1, "no further (no-op) proposals");
    await c.stop();
  });

  test("one change: planned when it arrives, proposed once at the window's end; its own commit is not re-planned", async () => {
    const { clock, cluster, c, w } = setup();
    c.start();
    w("users").set(FOUR);
    await clock.advance(1000);
    const [proposals, reads] = [cluster.proposals.length, w("users").reads];
    w("users").health("u3", false);
    assert.equal(w("users").reads, reads + 1, "the view is planned as the update arrives");
    await clock.advance(199);
    assert.equal(cluster.proposals.length, proposals, "no flush inside the window");
    await clock.advance(1);
    assert.deepEqual(cluster.committed().slice(proposals), ["SetHealth users u3=down"]);
    assert.equal(w("users").reads, reads + 1, "the window's end proposes that plan without planning again");
    assert.equal(c.status().users.lastLatencyMs, 200);
    await clock.advance(5000);
    assert.equal(w("users").reads, reads + 1, "no second flush after the commit (refresh saw its own entry)");
    assert.equal(c.status().users.pending, false);
    // Another command applied while the proposal is in flight is diffed again: a reload
    // that drops the discovered members is undone by a second flush.
    cluster.hold();
    w("users").health("u3", true);
    await clock.advance(200);
    cluster.applyNow({ v: 1, type: "SetMembers", pool: "users", source: "consul", members: [] });
    cluster.release();
    await clock.advance(1000);
    assert.ok(w("users").reads >= reads + 3, "a second flush after a foreign entry");
    assert.deepEqual(
      cluster.current.pools.users.members.map((m) => `${m.id}${m.healthy ? "" : "!"}`),
      ["u1", "u2", "u3", "u4"],
    );
    await c.stop();
  });

  test("the window counts from the arrival of the answer that carried the change (ageMs)", async () => {
    const { clock, cluster, c, w } = setup();
    c.start();
    w("users").set(FOUR);
    await clock.advance(1000);
    const [proposals, reads] = [cluster.proposals.length, w("users").reads];
    // The answer arrived 60 ms before the update (reading and decoding it): 140 ms are left.
    w("users").health("u3", false, 60);
    await clock.advance(139);
    assert.equal(cluster.proposals.length, proposals, "no flush inside the window");
    await clock.advance(1);
    assert.deepEqual(cluster.committed().slice(proposals), ["SetHealth users u3=down"]);
    assert.equal(w("users").reads, reads + 1, "planned once, as the update arrived");
    assert.equal(c.status().users.lastLatencyMs, 200, "latency counted from the arrival");
    // Older than the window: flushed at once.
    w("users").health("u3", true, 5000);
    await clock.advance(0);
    assert.deepEqual(cluster.committed().slice(proposals), [
      "SetHealth users u3=down",
      "SetHealth users u3=up",
    ]);
    assert.equal(c.status().users.lastLatencyMs, 200, "the age is capped at the window");
    // A second update re-arms from its own arrival; maxDelay still counts from the first's.
    w("users").health("u1", false, 50);
    await clock.advance(100);
    w("users").health("u2", false, 30);
    await clock.advance(169);
    assert.equal(cluster.proposals.length, proposals + 2, "the second update's window is not over");
    await clock.advance(1);
    assert.deepEqual(cluster.committed().slice(proposals + 2), ["SetHealth users u1=down,u2=down"]);
    assert.equal(c.status().users.lastLatencyMs, 320);
    await c.stop();
  });

  test("a plan made as the update arrived is not used against a committed pool that changed since", async () => {
    const { clock, cluster, c, w, members } = setup();
    c.start();
    w("users").set(FOUR);
    await clock.advance(1000);
    const before = cluster.proposals.length;
    w("users").health("u2", false);
    // Inside the window, another command replaces the pool's members (a reload, say): the
    // plan made against the old pool would only flip u2; the window's end must re-add all.
    await clock.advance(100);
    cluster.applyNow({ v: 1, type: "SetMembers", pool: "users", source: "consul", members: [] });
    await clock.advance(1000);
    assert.ok(cluster.proposals.length > before);
    assert.deepEqual(members(), [
      "u1@127.0.0.1:9001w1",
      "u2@127.0.0.1:9002w1!",
      "u3@127.0.0.1:9003w1",
      "u4@127.0.0.1:9004w1",
    ]);
    await c.stop();
  });

  test("critical: one SetHealth with only the flipped member; back within the window: no command", async () => {
    const { clock, cluster, c, w, members } = setup();
    c.start();
    w("users").set(FOUR);
    await clock.advance(300);
    const before = cluster.proposals.length;
    w("users").health("u2", false);
    await clock.advance(150);
    w("users").health("u2", true);
    await clock.advance(2000);
    assert.equal(cluster.proposals.length, before, "a flap inside the window proposes nothing");
    w("users").health("u2", false);
    await clock.advance(200);
    assert.deepEqual(cluster.committed().slice(before), ["SetHealth users u2=down"]);
    assert.ok(members().includes("u2@127.0.0.1:9002w1!"));
    w("users").health("u2", true);
    await clock.advance(200);
    assert.deepEqual(cluster.committed().slice(before), ["SetHealth users u2=down", "SetHealth users u2=up"]);
    await c.stop();
  });

  test("steady churn still converges within maxDelay", async () => {
    const { clock, cluster, c, w } = setup({ debounceMs: 200, maxDelayMs: 500 });
    c.start();
    w("users").set(FOUR);
    await clock.advance(300);
    const before = cluster.proposals.length;
    // A flip every 100 ms never leaves 200 ms of quiet; the max delay must still fire.
    w("users").health("u1", false);
    const firstAt = clock.now();
    let committedAt: number | undefined;
    for (let i = 0; i < 20 && committedAt === undefined; i++) {
      await clock.advance(100);
      if (cluster.proposals.length > before) committedAt = clock.now();
      else w("users").health(i % 2 === 0 ? "u3" : "u1", i % 4 === 0);
    }
    assert.ok(committedAt !== undefined, "churn never produced a command");
    assert.ok(committedAt - firstAt <= 500, `committed ${committedAt - firstAt} ms after the first change`);
    await c.stop();
  });

  test("address and weight changes and deregistration become SetMembers; health rides along", async () => {
    const { clock, cluster, c, w, members } = setup();
    c.start();
    w("users").set(FOUR);
    await clock.advance(300);
    w("users").set([
      { id: "u1", port: 9001, weight: 3 },
      { id: "u2", port: 9012 },
      { id: "u3", port: 9003, healthy: false },
      { id: "u5", port: 9005, address: "::1" },
    ]);
    await clock.advance(300);
    assert.deepEqual(members(), [
      "u1@127.0.0.1:9001w3",
      "u2@127.0.0.1:9012w1",
      "u3@127.0.0.1:9003w1!",
      "u5@::1:9005w1",
    ]);
    assert.equal(cluster.proposals.length, 2, "one command for the whole burst");
    await c.stop();
  });

  test("mixed pool: static members are kept; a consul member with a static member's id is skipped", async () => {
    const { clock, cluster, c, w, members } = setup();
    c.start();
    w("mixed").set([
      { id: "s1", port: 9500 },
      { id: "m1", port: 9501 },
      { id: "bad id", port: 9502 },
      { id: "m0", port: 0 },
    ]);
    await clock.advance(300);
    assert.deepEqual(members("mixed"), ["m1@127.0.0.1:9501w1", "s1@127.0.0.1:9301w1"]);
    assert.equal(cluster.current.pools.mixed.members.find((m) => m.id === "s1")?.source, "static");
    const skipped = c.status().mixed.skipped;
    assert.equal(skipped.length, 3, JSON.stringify(skipped));
    assert.match(skipped.join("\n"), /"s1": a static member/);
    await c.stop();
  });

  test("panic guard: 3 of 4 critical at once -> no unhealthy marks, panic flag; recovery ends it", async () => {
    const { clock, cluster, c, w, panics, members } = setup();
    c.start();
    w("users").set(FOUR);
    await clock.advance(300);
    const before = cluster.proposals.length;
    w("users").set(FOUR.map((m) => ({ ...m, healthy: m.id === "u1" })));
    await clock.advance(1000);
    assert.equal(cluster.proposals.length, before, "the guard proposes no unhealthy marks");
    const s = c.status().users;
    assert.equal(s.panic, true);
    assert.equal(s.wouldBeHealthy, 1);
    assert.equal(s.total, 4);
    assert.deepEqual([...s.suppressed], ["u2", "u3", "u4"]);
    assert.equal(panics.length, 1);
    assert.equal(panics[0].panic, true);
    assert.ok(
      members().every((m) => !m.endsWith("!")),
      "everyone still routable",
    );
    // Two recover: 3 of 4 healthy is above the threshold, so the last one is marked now.
    w("users").set(FOUR.map((m) => ({ ...m, healthy: m.id !== "u4" })));
    await clock.advance(300);
    assert.equal(c.status().users.panic, false);
    assert.equal(panics.at(-1)?.panic, false);
    assert.deepEqual(cluster.committed().slice(before), ["SetHealth users u4=down"]);
    await c.stop();
  });

  test("panic: members already down stay down, recoveries go through", async () => {
    const { clock, cluster, c, w } = setup();
    c.start();
    w("users").set(FOUR);
    await clock.advance(300);
    w("users").health("u1", false);
    await clock.advance(300);
    const before = cluster.proposals.length;
    w("users").set(FOUR.map((m) => ({ ...m, healthy: m.id === "u4" })));
    await clock.advance(300);
    assert.equal(c.status().users.panic, true);
    assert.equal(cluster.proposals.length, before);
    w("users").set(FOUR.map((m) => ({ ...m, healthy: m.id === "u4" || m.id === "u1" })));
    await clock.advance(300);
    assert.equal(c.status().users.panic, false, "2 of 4 is not below 50%");
    assert.deepEqual(cluster.committed().slice(before), ["SetHealth users u1=up,u2=down,u3=down"]);
    await c.stop();
  });

  test("a new member whose check is still critical is added unhealthy even in panic", async () => {
    const { clock, c, w, members } = setup();
    c.start();
    w("users").set([
      { id: "u1" },
      { id: "u2", port: 9002, healthy: false },
      { id: "u3", port: 9003, healthy: false },
    ]);
    await clock.advance(300);
    assert.equal(c.status().users.panic, true);
    assert.deepEqual(members(), ["u1@127.0.0.1:9000w1", "u2@127.0.0.1:9002w1!", "u3@127.0.0.1:9003w1!"]);
    await c.stop();
  });

  test("failed proposals are retried with backoff and commit once", async () => {
    const { clock, cluster, c, w } = setup({ retryMs: 100 });
    c.start();
    cluster.failNext(2);
    w("users").set(FOUR);
    await clock.advance(200);
    assert.equal(cluster.proposals.length, 1);
    assert.equal(c.status().users.lastProposalError, "not leader");
    await clock.advance(100);
    assert.equal(cluster.proposals.length, 2, "first retry after retryMs");
    await clock.advance(199);
    assert.equal(cluster.proposals.length, 2, "second retry waits 2 x retryMs");
    await clock.advance(1);
    assert.equal(cluster.committed().length, 1);
    await clock.advance(5000);
    assert.equal(cluster.proposals.length, 3, "no duplicate after the commit");
    assert.equal(c.status().users.failedProposals, 2);
    assert.equal(c.status().users.lastProposalError, undefined);
    await c.stop();
  });

  test("updates during an in-flight proposal are proposed after it settles", async () => {
    const { clock, cluster, c, w, members } = setup();
    c.start();
    cluster.hold();
    w("users").set(FOUR);
    await clock.advance(200);
    w("users").health("u3", false);
    await clock.advance(1000);
    assert.equal(cluster.proposals.length, 0, "held");
    cluster.release();
    await clock.advance(300);
    assert.deepEqual(cluster.committed()[1], "SetHealth users u3=down");
    assert.ok(members().includes("u3@127.0.0.1:9003w1!"));
    await c.stop();
  });

  test("before the first answer nothing is proposed; Consul errors keep the committed state", async () => {
    const { clock, cluster, c, w } = setup();
    cluster.applyNow({
      v: 1,
      type: "SetMembers",
      pool: "users",
      source: "consul",
      members: [{ id: "u1", address: "127.0.0.1:9001" }],
    });
    c.start();
    w("users").error = "connect ECONNREFUSED 127.0.0.1:8500";
    await clock.advance(10_000);
    assert.equal(cluster.proposals.length, 0, "an unsynced (empty) view must not empty the pool");
    assert.equal(cluster.current.pools.users.members.length, 1);
    assert.equal(c.status().users.watcher?.lastError, "connect ECONNREFUSED 127.0.0.1:8500");
    await c.stop();
  });

  test("stop() stops watchers and timers; start() rebuilds from committed state without re-proposing", async () => {
    const { clock, cluster, c, w, created } = setup();
    c.start();
    w("users").set(FOUR);
    await clock.advance(100);
    const old = w("users");
    await c.stop();
    assert.equal(old.stopped, 1);
    assert.equal(clock.pendingTimers, 0);
    await clock.advance(1000);
    assert.equal(cluster.proposals.length, 0, "a stopped controller proposes nothing");
    assert.deepEqual(c.status(), {});
    cluster.applyNow({
      v: 1,
      type: "SetMembers",
      pool: "users",
      source: "consul",
      members: FOUR.map((m) => ({ id: m.id, address: `127.0.0.1:${m.port}` })),
    });
    c.start();
    assert.equal(created.length, 4, "fresh watchers on start");
    assert.notEqual(w("users"), old);
    w("users").set(FOUR);
    await clock.advance(1000);
    assert.equal(cluster.proposals.length, 0, "view equals the committed state");
    await c.stop();
  });

  test("refresh follows routing changes: discovery removed stops the watcher, a new pool starts one", async () => {
    const { clock, cluster, c, w, created } = setup();
    c.start();
    const usersWatcher = w("users");
    cluster.applyNow({
      v: 1,
      type: "SetRouting",
      routing: {
        pools: {
          users: { members: [{ id: "x1", address: "127.0.0.1:9999" }] },
          orders: { discovery: { consul: { service: "orders-api", tags: ["v2"] } } },
        },
        routes: [{ pool: "users", key: ["header:x-user-id"] }],
      },
    });
    c.refresh();
    await clock.advance(0);
    assert.equal(usersWatcher.stopped, 1);
    assert.deepEqual(Object.keys(c.status()), ["orders"]);
    assert.ok(created.includes("orders:orders-api"));
    await c.stop();
  });

  test("seeded random view changes: every proposal is valid and changes something; the end state equals the view", async () => {
    const random = seededRandom(SEED);
    const { clock, cluster, c, w } = setup({ panicThreshold: 0 });
    c.start();
    let view = FOUR.map((m) => ({ ...m, healthy: true, weight: 1 }));
    w("users").set(view);
    for (let step = 0; step < 200; step++) {
      const r = random();
      const i = Math.floor(random() * 6);
      const id = `u${i + 1}`;
      const existing = view.find((m) => m.id === id);
      if (r < 0.5 && existing) view = view.map((m) => (m.id === id ? { ...m, healthy: !m.healthy } : m));
      else if (r < 0.65 && existing) view = view.filter((m) => m.id !== id);
      else if (r < 0.8 && !existing)
        view = [...view, { id, port: 9000 + i + 1, healthy: random() < 0.7, weight: 1 }];
      else if (existing)
        view = view.map((m) => (m.id === id ? { ...m, weight: 1 + Math.floor(random() * 3) } : m));
      w("users").set(view);
      await clock.advance(Math.floor(random() * 400));
    }
    await clock.advance(2000);
    const got = cluster.current.pools.users.members.map(
      (m) => `${m.id}:${m.address.port}:${m.weight}:${m.healthy}`,
    );
    const want = [...view]
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((m) => `${m.id}:${m.port}:${m.weight}:${m.healthy}`);
    assert.deepEqual(got, want, why("committed state converges to the view"));
    for (const p of cluster.proposals) {
      assert.ok(
        p.change?.poolsChanged.includes("users") === true,
        why(`no-op proposal ${JSON.stringify(p.command)}`),
      );
    }
    assert.ok(
      cluster.proposals.length < 200,
      why(`debounce collapses bursts (${cluster.proposals.length} proposals)`),
    );
    await c.stop();
  });

  test("bad options are rejected with a clear error", () => {
    const base = { getState: () => new TestCluster(YAML).current, propose: async () => {} };
    assert.throws(
      () => new MembershipController({ ...base, panicThreshold: 1.5 }),
      (e: unknown) => {
        return (
          e instanceof ControllerError &&
          e.code === "HEALTH_INVALID_CONTROLLER_OPTIONS" &&
          /panicThreshold/.test(e.message)
        );
      },
    );
    assert.throws(
      () => new MembershipController({ ...base, debounceMs: 300, maxDelayMs: 100 }),
      /maxDelayMs/,
    );
    assert.throws(() => new MembershipController({ ...base, propose: undefined as never }), /propose/);
  });

  test("a watcher factory that throws is reported in status, not a crash", async () => {
    const { c } = setup({
      watcherFactory: () => {
        throw new Error("boom");
      },
    });
    c.start();
    assert.equal(c.status().users.watcherError, "boom");
    await c.stop();
  });
});

describe("panic guard and watcher options", () => {
  test("guardHealth: threshold edges", () => {
    const ms = (obs: boolean[]) => obs.map((o, i) => ({ id: `m${i}`, committed: true, observed: o }));
    assert.equal(guardHealth(ms([true, true, false, false]), 0.5).panic, false, "exactly 50% is not panic");
    assert.equal(guardHealth(ms([true, false, false, false]), 0.5).panic, true);
    assert.equal(guardHealth(ms([false, false, false, false]), 0).panic, false, "0 disables");
    assert.equal(guardHealth([], 0.5).panic, false);
    assert.deepEqual(guardHealth(ms([true, false, false]), 0.5).health, [true, true, true]);
  });

  test("consulWatcherOptions hands both sections over as the schema produced them, plus a seed per service", () => {
    const agent = consulAgentSchema.parse({ address: "https://consul.internal", token: "t", wait: "30s" });
    const discovery = poolConsulSchema.parse({ service: "users-api", passingOnly: true, tags: ["a"] });
    const o = consulWatcherOptions(agent, discovery);
    assert.equal(o.agent, agent);
    assert.equal(o.discovery, discovery);
    assert.deepEqual([agent.wait, agent.rateLimit, discovery.warningIsHealthy], [30_000, 2, false]);
    assert.notEqual(o.seed, consulWatcherOptions(agent, { ...discovery, service: "other" }).seed);
  });
});
