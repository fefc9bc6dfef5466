// Breaker controller unit tests: outcome batches in, SetBreaker commands out, applied to a
// real ClusterState by a one-replica test cluster. Fake clock; nothing sleeps on real time.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BreakerController, FORCED_OPEN_UNTIL } from "../../health/breaker-controller.js";
import { ControllerError } from "../../health/controller/deps.js";
import { OutcomeRecorder } from "../../health/outcome-recorder.js";
import { routingFrom } from "../config/cluster-fixtures.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { FakeClock, TestCluster } from "./controllers-fakes.js";

const SEED = testSeed(9090);
const why = (s: string) => `${s} (seed=${SEED})`;

const YAML = `pools:
  api:
    members:
      - { id: a1, address: "127.0.0.1:9101" }
      - { id: a2, address: "127.0.0.1:9102" }
      - { id: a3, address: "127.0.0.1:9103" }
    breaker: { consecutiveFailures: 3, failureRate: 0.5, minRequests: 10, openFor: 1s, maxOpenFor: 8s, halfOpenProbes: 2 }
  off:
    members:
      - { id: o1, address: "127.0.0.1:9201" }
    breaker: { enabled: false }
routes:
  - pool: api
    key: [header:x-user-id]
`;

function entry(member: string, success: number, failure: number, pool = "api") {
  const consecutive = success === 0 ? failure : 0;
  return {
    pool,
    member,
    success,
    failure,
    consecutive,
    maxConsecutive: failure,
    connectErrors: failure,
    resets: 0,
    timeouts: 0,
  };
}

function setup(cluster?: TestCluster, clock = new FakeClock()) {
  const cl = cluster ?? new TestCluster(YAML, clock);
  const c = new BreakerController({ getState: cl.getState, propose: cl.propose, clock, tickMs: 100 });
  cl.onApplied = () => c.refresh();
  const breaker = (member: string, pool = "api") =>
    cl.current.pools[pool].members.find((m) => m.id === member)?.breaker;
  return { clock, cluster: cl, c, breaker };
}

describe("BreakerController", () => {
  test("a tripping batch proposes SetBreaker open at once; tick moves it to half-open; probes close it", async () => {
    const { clock, cluster, c, breaker } = setup();
    c.start();
    const r = c.ingest({ entries: [entry("a1", 0, 3), entry("a2", 5, 0)] }, "b");
    assert.deepEqual(r, { accepted: 2, ignored: 0, transitions: 1 });
    await clock.advance(0);
    assert.deepEqual(cluster.committed(), ["SetBreaker api a1 open trips=1"]);
    const open = breaker("a1");
    assert.equal(open?.state, "open");
    assert.equal(open?.until, (open?.since ?? 0) + 1000, "until = since + openFor, in wall time");
    await clock.advance(999);
    assert.equal(breaker("a1")?.state, "open");
    await clock.advance(100);
    assert.equal(breaker("a1")?.state, "half-open");
    assert.equal(breaker("a1")?.trips, 1);
    c.ingest({ entries: [entry("a1", 1, 0)] });
    await clock.advance(0);
    assert.equal(breaker("a1")?.state, "half-open", "one probe of two");
    c.ingest({ entries: [entry("a1", 1, 0)] });
    await clock.advance(0);
    assert.deepEqual(breaker("a1"), {
      state: "closed",
      since: breaker("a1")?.since,
      until: 0,
      trips: 0,
      override: "auto",
    });
    assert.deepEqual(cluster.committed(), [
      "SetBreaker api a1 open trips=1",
      "SetBreaker api a1 half-open trips=1",
      "SetBreaker api a1 closed trips=0",
    ]);
    c.stop();
  });

  test("a failed probe re-opens with a doubled cool-down and trips + 1", async () => {
    const { clock, c, breaker } = setup();
    c.start();
    c.ingest({ entries: [entry("a2", 0, 3)] });
    await clock.advance(1100);
    assert.equal(breaker("a2")?.state, "half-open");
    c.ingest({ entries: [entry("a2", 0, 1)] });
    await clock.advance(0);
    const b = breaker("a2");
    assert.equal(b?.state, "open");
    assert.equal(b?.trips, 2);
    assert.equal((b?.until ?? 0) - (b?.since ?? 0), 2000);
    c.stop();
  });

  test("outcomes from a real OutcomeRecorder trip the breaker through the failure-rate rule", async () => {
    const { clock, c, breaker } = setup();
    c.start();
    const rec = new OutcomeRecorder();
    const s = rec.slot("api", "a3");
    for (let i = 0; i < 12; i++) {
      if (i % 2 === 0) rec.recordStatus(s, 503);
      else rec.recordStatus(s, 200);
    }
    c.ingest(rec.drain(), "follower-b");
    await clock.advance(0);
    assert.equal(breaker("a3")?.state, "open");
    c.stop();
  });

  test("a failed proposal is retried on the next tick, committed once", async () => {
    const { clock, cluster, c, breaker } = setup();
    c.start();
    cluster.failNext(1);
    c.ingest({ entries: [entry("a1", 0, 5)] });
    await clock.advance(0);
    assert.equal(cluster.proposals.length, 1);
    assert.equal(breaker("a1")?.state, "closed");
    assert.equal(c.status().lastProposalError, "not leader");
    await clock.advance(100);
    assert.equal(breaker("a1")?.state, "open");
    await clock.advance(500);
    assert.equal(cluster.proposals.length, 2, "no duplicates");
    assert.equal(c.status().pending, 0);
    c.stop();
  });

  test("one proposal in flight per member; the newest wanted state follows it", async () => {
    const { clock, cluster, c, breaker } = setup();
    c.start();
    cluster.hold();
    c.ingest({ entries: [entry("a1", 0, 3)] });
    await clock.advance(1500);
    assert.equal(c.status().inFlight, 1);
    assert.equal(cluster.proposals.length, 0);
    cluster.release();
    await clock.advance(0);
    assert.deepEqual(cluster.committed(), [
      "SetBreaker api a1 open trips=1",
      "SetBreaker api a1 half-open trips=1",
    ]);
    assert.equal(breaker("a1")?.state, "half-open");
    await clock.advance(1000);
    assert.equal(cluster.proposals.length, 2);
    c.stop();
  });

  test("force open pins the breaker (no half-open), auto hands it back; force closed holds against failures", async () => {
    const { clock, cluster, c, breaker } = setup();
    c.start();
    await c.force("api", "a1", "open");
    assert.equal(breaker("a1")?.state, "open");
    assert.equal(breaker("a1")?.until, FORCED_OPEN_UNTIL);
    assert.equal(breaker("a1")?.trips, 0);
    await clock.advance(120_000);
    assert.equal(breaker("a1")?.state, "open", "a forced open never times out");
    await c.force("api", "a1", "auto");
    assert.equal(breaker("a1")?.state, "closed");
    await c.force("api", "a2", "closed");
    c.ingest({ entries: [entry("a2", 0, 50)] });
    await clock.advance(200);
    assert.equal(breaker("a2")?.state, "closed", "forced closed ignores failures");
    assert.equal(breaker("a2")?.override, "closed", "a forced close is committed as such");
    assert.equal(breaker("a1")?.override, "auto");
    const n = cluster.proposals.length;
    await c.force("api", "a2", "closed");
    assert.equal(cluster.proposals.length, n, "already committed: nothing proposed");
    c.stop();
  });

  test("force rejects unknown pools and members, disabled breakers, bad modes and a stopped controller", async () => {
    const { c } = setup();
    const code = (k: string) => (e: unknown) => e instanceof ControllerError && e.code === k;
    await assert.rejects(c.force("api", "a1", "open"), code("HEALTH_NOT_RUNNING"));
    c.start();
    await assert.rejects(c.force("nope", "a1", "open"), code("HEALTH_UNKNOWN_POOL"));
    await assert.rejects(c.force("api", "zz", "open"), code("HEALTH_UNKNOWN_MEMBER"));
    await assert.rejects(c.force("off", "o1", "open"), /breaker disabled/);
    await assert.rejects(c.force("api", "a1", "half" as never), /"open", "closed" or "auto"/);
    c.stop();
  });

  test("a new leader adopts committed breakers: an open one continues (trips kept), a forced one stays forced", async () => {
    const clock = new FakeClock();
    const first = setup(undefined, clock);
    first.c.start();
    first.c.ingest({ entries: [entry("a1", 0, 3)] });
    await clock.advance(1100);
    first.c.ingest({ entries: [entry("a1", 0, 1)] }); // probe fails: trips 2
    await first.c.force("api", "a2", "open");
    await clock.advance(0);
    first.c.stop();
    assert.equal(first.breaker("a1")?.trips, 2);

    const second = setup(first.cluster, clock);
    second.c.start();
    assert.equal(second.c.view("api", "a1")?.state, "open");
    assert.equal(second.c.view("api", "a1")?.reopens, 1);
    assert.equal(second.c.view("api", "a2")?.override, "open");
    const n = first.cluster.proposals.length;
    await clock.advance(1999);
    assert.equal(first.cluster.proposals.length, n, "the doubled cool-down restarts from the takeover");
    await clock.advance(101);
    assert.equal(second.breaker("a1")?.state, "half-open");
    assert.equal(second.breaker("a1")?.trips, 2);
    assert.equal(second.breaker("a2")?.state, "open", "forced open survives the leader change");
    second.c.stop();
  });

  test("members that leave are forgotten; a moved member's reset breaker is adopted", async () => {
    const { clock, cluster, c, breaker } = setup();
    c.start();
    c.ingest({ entries: [entry("a1", 0, 3), entry("a3", 0, 3)] });
    await clock.advance(0);
    assert.equal(breaker("a1")?.state, "open");
    cluster.applyNow({
      v: 1,
      type: "SetRouting",
      routing: {
        pools: {
          api: {
            members: [
              { id: "a1", address: "127.0.0.1:9999" },
              { id: "a2", address: "127.0.0.1:9102" },
            ],
            breaker: {
              consecutiveFailures: 3,
              minRequests: 10,
              openFor: "1s",
              maxOpenFor: "8s",
              halfOpenProbes: 2,
            },
          },
        },
        routes: [{ pool: "api", key: ["header:x-user-id"] }],
      },
    });
    c.refresh();
    assert.equal(breaker("a1")?.state, "closed", "the state machine reset the moved member");
    assert.equal(c.view("api", "a1")?.state, "closed", "and the controller adopted it");
    assert.deepEqual(c.ingest({ entries: [entry("a3", 0, 9)] }), { accepted: 0, ignored: 1, transitions: 0 });
    const n = cluster.proposals.length;
    await clock.advance(2000);
    assert.equal(cluster.proposals.length, n, "nothing proposed for the moved or departed members");
    c.stop();
  });

  test("a join that shifts every member's index looks at the joining member only; states carry over", async () => {
    const { clock, cluster, c, breaker } = setup();
    c.start();
    c.ingest({ entries: [entry("a2", 0, 3)] });
    await clock.advance(0);
    assert.equal(breaker("a2")?.state, "open");
    // Count the decider reads a reconcile makes for members it already settled.
    const decider = (
      c as unknown as { pools: Map<string, { decider: { view: (...a: unknown[]) => unknown } }> }
    ).pools.get("api")?.decider;
    assert.ok(decider !== undefined);
    const view = decider.view.bind(decider);
    let views = 0;
    decider.view = (...a: unknown[]) => {
      views++;
      return view(...a);
    };
    // a0 sorts first: a1, a2 and a3 all move up one index, unchanged otherwise.
    cluster.applyNow({
      v: 1,
      type: "SetRouting",
      routing: routingFrom(
        YAML.replace("    members:\n", '    members:\n      - { id: a0, address: "127.0.0.1:9100" }\n'),
      ),
    });
    assert.deepEqual(
      cluster.current.pools.api.members.map((m) => m.id),
      ["a0", "a1", "a2", "a3"],
    );
    views = 0;
    c.refresh();
    assert.equal(views, 0, "no settled member was looked at again");
    assert.equal(c.view("api", "a2")?.state, "open", "the open breaker carries over");
    assert.equal(c.view("api", "a0")?.state, "closed", "the joining member is adopted");
    c.stop();
  });

  test("a pool with the breaker disabled gets its open breakers closed", async () => {
    const { clock, cluster, c, breaker } = setup();
    cluster.applyNow({
      v: 1,
      type: "SetBreaker",
      pool: "off",
      member: "o1",
      state: "open",
      since: 1,
      until: 2,
      trips: 1,
    });
    c.start();
    await clock.advance(0);
    assert.equal(breaker("o1", "off")?.state, "closed");
    assert.deepEqual(c.ingest({ entries: [entry("o1", 0, 9, "off")] }).ignored, 1);
    c.stop();
  });

  test("malformed batches are counted and ignored, never thrown", () => {
    const { c } = setup();
    c.start();
    assert.deepEqual(c.ingest(null as never), { accepted: 0, ignored: 1, transitions: 0 });
    assert.deepEqual(c.ingest({ entries: "x" } as never), { accepted: 0, ignored: 1, transitions: 0 });
    const bad = [
      { ...entry("a1", 0, 3), failure: -1 },
      { ...entry("a1", 0, 3), success: Number.NaN },
      { ...entry("a1", 0, 3), member: 7 },
      null,
      entry("nope", 0, 3),
      entry("a1", 0, 3, "nopool"),
    ];
    assert.deepEqual(c.ingest({ entries: bad } as never), { accepted: 0, ignored: 6, transitions: 0 });
    assert.equal(c.status().ignoredEntries, 8);
    c.stop();
  });

  test("stop() rejects waiting overrides, clears timers, and ignores late batches", async () => {
    const { clock, cluster, c } = setup();
    c.start();
    cluster.hold();
    const f = c.force("api", "a1", "open");
    c.stop();
    await assert.rejects(f, (e: unknown) => e instanceof ControllerError && e.code === "HEALTH_NOT_RUNNING");
    assert.equal(clock.pendingTimers, 0);
    assert.deepEqual(c.ingest({ entries: [entry("a1", 0, 9)] }), { accepted: 0, ignored: 1, transitions: 0 });
    cluster.release();
    await clock.advance(0);
  });

  test("seeded random traffic: every command validates and applies; committed state tracks the deciders", async () => {
    const random = seededRandom(SEED);
    const { clock, cluster, c, breaker } = setup();
    c.start();
    const ids = ["a1", "a2", "a3"];
    for (let step = 0; step < 300; step++) {
      const entries = [];
      for (const id of ids) {
        if (random() < 0.5) continue;
        const failing = random() < 0.4;
        entries.push(
          entry(id, failing ? 0 : 1 + Math.floor(random() * 5), failing ? 1 + Math.floor(random() * 3) : 0),
        );
      }
      if (random() < 0.05) cluster.failNext(1);
      c.ingest({ entries });
      await clock.advance(Math.floor(random() * 300));
    }
    await clock.advance(500);
    assert.equal(c.status().pending, 0, why("everything committed"));
    for (const id of ids) {
      const v = c.view("api", id);
      assert.equal(breaker(id)?.state, v?.state, why(`${id}: committed state = decider state`));
    }
    const opens = cluster.committed().filter((s) => s.includes(" open ")).length;
    assert.ok(opens > 0, why("the stream tripped something"));
    c.stop();
  });
});
