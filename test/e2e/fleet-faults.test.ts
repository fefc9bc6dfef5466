// Fleet agreement end to end (issue 5), faults: 3 voter + 1 learner real shardgate processes,
// 4 real upstreams registered in Consul (the double, or a real agent via CONSUL_HTTP_ADDR).
//  (c) a member fails (resets and 503s) as seen through one instance -> its breaker opens on
//      every instance; once it recovers, half-open probing closes it everywhere;
//  (d) kill -9 the Raft leader under a steady load -> zero failed requests on live instances,
//      a new leader, the same state; the killed instance restarts on its dataDir and catches up
//      (including a change committed while it was down);
//  (e) one instance cut off from its peers (transport fault injection through the admin API)
//      keeps serving on its last state with /readyz saying why it is degraded, and catches up
//      after the cut heals;
//  (c2) failures seen through every instance: once half-open probes through one of them close
//      the breaker, it stays closed while the member serves all of them (regression test).
// Latencies are printed as diagnostics; E2E_STRICT_TIMING=1 also asserts the issue's 1 s target.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { membersFingerprint } from "../support/cluster/admin-views.js";
import {
  agreedRoutes,
  allHealthy,
  closeFleet,
  describeStates,
  type Fleet,
  keyedGet,
  keysOf,
  member,
  startFleet,
  waitAllRecording,
} from "../support/cluster/fleet-fixture.js";
import { mapLimit, sleep } from "../support/cluster/http-client.js";
import { randomKeys } from "../support/cluster/keys.js";
import { describeLoad, SteadyLoad } from "../support/cluster/load.js";
import type { FleetNode } from "../support/cluster-launcher.js";
import { testSeed } from "../support/prng.js";
import { eventuallyTrue, scaled } from "../support/wait.js";

const SEED = testSeed(5002);
const STRICT = process.env.E2E_STRICT_TIMING === "1";

/**
 * Breaker tuned only in its cool-down: long enough that a loaded machine still checks every
 * instance while the breaker is open, short enough for the time budget. 3 s was too short at
 * load 20: the checks below ran into half-open and saw a probe routed to the member (seed 5002);
 * 6 s too at load 25 (the checks took 6.1 s).
 */
const OPEN_FOR_S = 10;
/** From recovery to closed everywhere: openFor, then the half-open probes and their commit. */
const CLOSE_WITHIN_MS = OPEN_FOR_S * 1000 + 15_000;
/** (d): requests every instance serves before the kill, and every survivor after the election. */
const SERVED_EACH = 20;
const BREAKER = `    breaker: { consecutiveFailures: 5, openFor: ${OPEN_FOR_S}s, maxOpenFor: ${OPEN_FOR_S * 2}s, halfOpenProbes: 3 }`;

describe("fleet e2e: breakers, leader loss, partition (3 voters + 1 learner, 4 upstreams)", () => {
  let fleet: Fleet;

  before(async () => {
    fleet = await startFleet({ seed: SEED, usersExtra: BREAKER });
  });
  after(() => closeFleet(fleet));

  test("(c) failures seen through one instance open the breaker on all; half-open probes close it on recovery", async (t) => {
    const { cluster, ups } = fleet;
    const c0 = await cluster.waitConverged({ accept: (s) => allHealthy(s, "users", ups.ids) });
    const keys = randomKeys(fleet.random, 400, "c");
    const before = await agreedRoutes(fleet, cluster.nodes, "users", keys);
    const victim = ups.ids[Math.floor(fleet.random() * ups.ids.length)];
    const victimKeys = keysOf(before, victim);
    assert.ok(victimKeys.length >= 20, fleet.why(`${victim} owns ${victimKeys.length} sample keys`));
    // Whatever happens below, the next test starts with the breaker closed and automatic.
    t.after(() => settleBreaker(fleet, victim, victimKeys));
    // Observed through a follower, so the outcome has to travel to the leader.
    const via = cluster.nodes.find((n) => n.id !== c0.leader && n.voter) as FleetNode;

    // Failing phase: serial requests through `via`, alternating a reset and a 503 from the member.
    const wallT0 = Date.now();
    const t0 = performance.now();
    let sent = 0;
    let opened = false;
    const statuses = new Map<number, number>();
    const poll = waitAllRecording(
      fleet,
      `breaker of ${victim} open everywhere`,
      "users",
      (s) => member(s, "users", victim)?.breaker === "open",
      15_000,
    ).finally(() => {
      opened = true;
    });
    while (!opened && sent < 400 && performance.now() - t0 < 15_000) {
      if (sent % 2 === 0) ups.failWithReset(victim);
      else ups.failWithStatus(victim, 503);
      const r = await keyedGet(via, victimKeys[sent % victimKeys.length], "/c-failing").catch(() => ({
        status: 0,
        member: undefined,
        ringVersion: undefined,
        text: "transport error",
      }));
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      sent++;
    }
    const open = await poll;
    const openMs = performance.now() - t0;
    t.diagnostic(
      `(c) member failing -> breaker open on all 4 instances: ${openMs.toFixed(0)} ms after ${sent} requests through ${via.id} (statuses ${JSON.stringify([...statuses])})`,
    );
    if (STRICT) assert.ok(openMs < 1000, fleet.why(`breaker open everywhere in ${openMs} ms (target < 1 s)`));
    assert.equal(
      open.versionsWhileTrue.size,
      1,
      fleet.why(`one ring version: ${[...open.versionsWhileTrue]}`),
    );
    const vOpen = [...open.versionsWhileTrue][0];
    assert.ok(vOpen > c0.ringVersion, fleet.why(`${vOpen} > ${c0.ringVersion}`));
    for (const [id, s] of open.states)
      for (const m of s.pools.users.members)
        assert.equal(m.breaker, m.id === victim ? "open" : "closed", fleet.why(`${id} ${m.id}`));

    // Every instance, not only `via`, now keeps the member's keys away from it. These checks must
    // end within openFor (then half-open lets probes through): the instances are asked at once,
    // the requests first, then the route explanations, which must carry the open breaker's version.
    const checkT0 = performance.now();
    const served = ups.get(victim).trafficRequests;
    const open5 = await Promise.all(
      cluster.nodes.map((n) => Promise.all(victimKeys.slice(0, 5).map((k) => keyedGet(n, k, "/c-open")))),
    );
    const servedMs = performance.now() - checkT0;
    assert.equal(
      ups.get(victim).trafficRequests,
      served,
      fleet.why(`open breaker: ${victim} got no request (the requests took ${servedMs.toFixed(0)} ms)`),
    );
    const during = await agreedRoutes(fleet, cluster.nodes, "users", victimKeys);
    const checkMs = performance.now() - checkT0;
    assert.equal(
      during.ringVersion,
      vOpen,
      fleet.why(
        `routes read while the breaker is open (openFor ${OPEN_FOR_S} s ran out first: ${checkMs} ms)`,
      ),
    );
    for (const k of victimKeys) assert.notEqual(during.members.get(k), victim, fleet.why(k));
    for (const [i, n] of cluster.nodes.entries())
      for (const [j, k] of victimKeys.slice(0, 5).entries()) {
        const r = open5[i][j];
        assert.equal(r.status, 200, fleet.why(`${n.id} ${k}: ${r.text}`));
        assert.equal(r.member, during.members.get(k), fleet.why(`${n.id} ${k}`));
      }
    t.diagnostic(`(c) open-breaker checks on all 4 instances took ${checkMs.toFixed(0)} ms`);

    // Recovery: the member answers again; after openFor the leader moves it to half-open, the
    // probes (ordinary requests for its keys, still through `via`) succeed, and it closes.
    ups.recover(victim);
    const t1 = performance.now();
    let closed = false;
    let halfOpenSeen = false;
    const closing = cluster
      .waitAll(
        `breaker of ${victim} closed everywhere`,
        (s) => {
          const b = member(s, "users", victim)?.breaker;
          if (b === "half-open") halfOpenSeen = true;
          return b === "closed";
        },
        { timeoutMs: CLOSE_WITHIN_MS, everyMs: 20 },
      )
      .finally(() => {
        closed = true;
      });
    let probes = 0;
    while (!closed && probes < 2000 && performance.now() - t1 < CLOSE_WITHIN_MS) {
      await keyedGet(via, victimKeys[probes % victimKeys.length], "/c-probe").catch(() => undefined);
      probes++;
      await sleep(20);
    }
    const closedStates = await closing;
    t.diagnostic(
      `(c) recovered -> closed on all 4 in ${(performance.now() - t1).toFixed(0)} ms (openFor ${OPEN_FOR_S} s; half-open observed: ${halfOpenSeen}; ${probes} requests)`,
    );
    // The leader(s) decided open -> half-open -> closed by the rules, in that order, with no override.
    // (Log lines reach us in batches: the process flushes its log every ~100 ms.)
    const path = ["closed->open", "open->half-open", "half-open->closed"];
    let transitions: string[] = [];
    const walked = await eventuallyTrue(
      () => {
        transitions = cluster
          .logLines((l) => l.msg === "breaker transition" && l.member === victim && Number(l.time) >= wallT0)
          .map((l) => `${l.from}->${l.to}`);
        let at = 0;
        for (const tr of transitions) if (tr === path[at]) at++;
        return at === path.length;
      },
      3_000,
      50,
    );
    assert.ok(walked, fleet.why(`breaker transitions of ${victim}: ${transitions.join(", ")}`));
    const versions = new Set([...closedStates.values()].map((s) => s.ringVersion));
    assert.equal(versions.size, 1, fleet.why(describeStates(closedStates)));
    const after = await agreedRoutes(fleet, cluster.nodes, "users", keys);
    for (const k of keys) assert.equal(after.members.get(k), before.members.get(k), fleet.why(`${k} back`));
    const r = await keyedGet(cluster.nodes[0], victimKeys[0], "/c-closed");
    assert.equal(r.member, victim, fleet.why("requests reach the member again"));
  });

  test("(d) kill -9 the leader under load: zero failures, new leader, same state, the old leader catches up", async (t) => {
    const { cluster, ups } = fleet;
    const c0 = await cluster.waitConverged({ accept: (s) => allHealthy(s, "users", ups.ids) });
    const victim = cluster.node(c0.leader);
    let drained: string | undefined;
    t.after(async () => {
      // On failure too: the instance runs again and no member stays drained.
      if (!victim.alive) await cluster.restart(victim);
      if (drained !== undefined)
        await cluster.adminPost(victim, `/admin/pools/users/members/${drained}/undrain`);
    });
    const keys = randomKeys(fleet.random, 500, "d");
    const before = await agreedRoutes(fleet, cluster.nodes, "users", keys);
    const fingerprint = membersFingerprint(c0.states.get(c0.leader)?.pools.users);

    const load = new SteadyLoad({
      targets: cluster.nodes.map((n) => ({ id: n.id, httpUrl: n.httpUrl })),
      keys,
      expected: before.members as Map<string, string>,
      concurrency: 4,
      maxRequests: 20_000,
      maxMs: scaled(120_000),
      pauseMs: 5,
      random: fleet.random,
    }).start();
    // Counted, not slept for: a sleep(1000) before and after let a loaded machine serve 16
    // requests per survivor in 6.7 s where the test wanted over 20 (seed 5002, load 40).
    const served = (n: FleetNode, r: { okPerTarget: Record<string, number> }, from: Record<string, number>) =>
      (r.okPerTarget[n.id] ?? 0) - (from[n.id] ?? 0);
    await load.until(
      `every instance served ${SERVED_EACH} requests before the kill`,
      (r) => cluster.nodes.every((n) => served(n, r, {}) >= SERVED_EACH),
      scaled(30_000),
    );
    load.exclude(victim.id);
    const killedAt = performance.now();
    await cluster.kill9(victim);
    const survivors = cluster.live();
    const c1 = await cluster.waitConverged({
      nodes: survivors,
      timeoutMs: 15_000,
      accept: (s) => s.raft.leader !== null && s.raft.leader !== victim.id,
    });
    const electedMs = performance.now() - killedAt;
    const atElection = load.okSoFar();
    await load.until(
      `every survivor served ${SERVED_EACH} requests after the new leader`,
      (r) => survivors.every((n) => served(n, r, atElection) >= SERVED_EACH),
      scaled(30_000),
    );
    const report = await load.stop();
    t.diagnostic(
      `(d) new leader ${c1.leader} (term ${c1.term}) ${electedMs.toFixed(0)} ms after kill -9 of ${victim.id}`,
    );
    t.diagnostic(`(d) load: ${describeLoad(report)}`);
    assert.equal(report.failures.length, 0, fleet.why(describeLoad(report)));
    assert.equal(report.misrouted.length, 0, fleet.why(describeLoad(report)));
    for (const n of survivors)
      assert.ok(served(n, report, atElection) >= SERVED_EACH, fleet.why(describeLoad(report)));
    assert.ok(c1.term > c0.term, fleet.why(`term ${c1.term} > ${c0.term}`));
    assert.ok(c1.leader !== victim.id && ["a", "b", "c"].includes(c1.leader), fleet.why(c1.leader));
    assert.equal(c1.ringVersion, c0.ringVersion, fleet.why("a leader change is not a routing change"));
    for (const [id, s] of c1.states)
      assert.equal(membersFingerprint(s.pools.users), fingerprint, fleet.why(`${id} members intact`));
    const same = await agreedRoutes(fleet, survivors, "users", keys);
    for (const k of keys) assert.equal(same.members.get(k), before.members.get(k), fleet.why(k));

    // A change committed while the old leader is down, that it must catch up on.
    drained = ups.ids[Math.floor(fleet.random() * ups.ids.length)];
    const leaderNode = cluster.node(c1.leader);
    const dr = await cluster.adminPost(leaderNode, `/admin/pools/users/members/${drained}/drain`);
    assert.equal(dr.status, 200, fleet.why(`drain: ${dr.text}`));
    const v2 = (dr.body as { ringVersion?: unknown }).ringVersion;
    assert.ok(
      typeof v2 === "number" && v2 > c0.ringVersion,
      fleet.why(`drain answers the new ring version: ${dr.text}`),
    );
    await cluster.waitConverged({
      nodes: survivors,
      accept: (s) => s.ringVersion === v2 && member(s, "users", drained)?.draining === true,
    });

    const t2 = performance.now();
    await cluster.restart(victim);
    const c2 = await cluster.waitConverged({
      timeoutMs: 20_000,
      accept: (s) => s.ringVersion === v2 && member(s, "users", drained)?.draining === true,
    });
    t.diagnostic(
      `(d) ${victim.id} restarted on its dataDir and caught up in ${(performance.now() - t2).toFixed(0)} ms`,
    );
    assert.equal(c2.states.size, 4);
    assert.equal(c2.states.get(victim.id)?.raft.appliedIndex, c2.appliedIndex);
    const caught = await agreedRoutes(fleet, cluster.nodes, "users", keys);
    assert.equal(caught.ringVersion, v2);
    for (const k of keys) {
      if (before.members.get(k) === drained) assert.notEqual(caught.members.get(k), drained, fleet.why(k));
      else assert.equal(caught.members.get(k), before.members.get(k), fleet.why(k));
    }
    const ud = await cluster.adminPost(victim, `/admin/pools/users/members/${drained}/undrain`);
    assert.equal(ud.status, 200, fleet.why(`undrain through the restarted follower (forwarded): ${ud.text}`));
    await cluster.waitConverged({ accept: (s) => allHealthy(s, "users", ups.ids) });
  });

  test("(e) an instance cut off from its peers serves on its last state, says it is degraded, catches up after healing", async (t) => {
    const { cluster, ups } = fleet;
    const c0 = await cluster.waitConverged({ accept: (s) => allHealthy(s, "users", ups.ids) });
    const cut = cluster.nodes.find((n) => n.voter && n.id !== c0.leader) as FleetNode;
    const rest = cluster.nodes.filter((n) => n !== cut);
    const keys = randomKeys(fleet.random, 500, "e");
    const before = await agreedRoutes(fleet, cluster.nodes, "users", keys);

    let victim: string | undefined;
    t.after(async () => {
      await cluster.rejoin(cut);
      if (victim !== undefined) await ups.passing(victim);
    });
    await cluster.isolate(cut);
    const degraded = await waitReadyz(fleet, cut, (r) => degradedReason(r.body) !== undefined, 10_000);
    t.diagnostic(`(e) ${cut.id} cut off: /readyz ${degraded.status} ${degraded.text.trim()}`);
    const reason = degradedReason(degraded.body) as string;
    assert.equal(degraded.status, 200, fleet.why(`static stability: still ready: ${degraded.text}`));
    assert.ok(
      reason === "cut_off" || reason === "no_quorum",
      fleet.why(`a cut-off reason: ${degraded.text}`),
    );

    // The majority side changes the ring; the cut instance cannot hear of it.
    victim = ups.ids[Math.floor(fleet.random() * ups.ids.length)];
    await ups.critical(victim);
    const moved = await waitAllRecording(
      fleet,
      `${victim} down on the connected side`,
      "users",
      (s) => member(s, "users", victim)?.healthy === false,
      10_000,
      rest,
    );
    const v1 = [...moved.versionsWhileTrue][0];
    await sleep(500);
    const stale = await cluster.stateOf(cut);
    assert.equal(stale.ringVersion, c0.ringVersion, fleet.why(`${cut.id} stays on its last state`));
    assert.ok(allHealthy(stale, "users", ups.ids), fleet.why(`${cut.id} still has all 4 members`));

    // It keeps serving, by its last state, with no failure.
    const sample = keys.slice(0, 60);
    const got = await mapLimit(sample, 6, (k) => keyedGet(cut, k, "/e-cut"));
    sample.forEach((k, i) => {
      assert.equal(got[i].status, 200, fleet.why(`${cut.id} ${k}: ${got[i].text}`));
      assert.equal(
        got[i].member,
        before.members.get(k),
        fleet.why(`${cut.id} routes ${k} by its last state`),
      );
    });

    const t1 = performance.now();
    await cluster.rejoin(cut);
    const c1 = await cluster.waitConverged({
      timeoutMs: 20_000,
      accept: (s) => s.pools.users?.ringVersion === v1 && member(s, "users", victim)?.healthy === false,
    });
    t.diagnostic(
      `(e) healed: ${cut.id} caught up to ring version ${v1} in ${(performance.now() - t1).toFixed(0)} ms`,
    );
    const ready = await waitReadyz(
      fleet,
      cut,
      (r) => r.status === 200 && degradedReason(r.body) === undefined,
      10_000,
    );
    assert.equal(ready.status, 200);
    assert.equal(c1.states.get(cut.id)?.raft.appliedIndex, c1.appliedIndex);
    const after = await agreedRoutes(fleet, cluster.nodes, "users", keys);
    assert.equal(after.ringVersion, v1);
    for (const k of keys) {
      if (before.members.get(k) === victim) assert.notEqual(after.members.get(k), victim, fleet.why(k));
      else assert.equal(after.members.get(k), before.members.get(k), fleet.why(k));
    }
    await ups.passing(victim);
    await cluster.waitConverged({ accept: (s) => allHealthy(s, "users", ups.ids) });
  });
  test("(c2) failures seen through every instance: after half-open probes close the breaker, it stays closed while the member serves", async (t) => {
    const { cluster, ups } = fleet;
    await cluster.waitConverged({ accept: (s) => allHealthy(s, "users", ups.ids) });
    const keys = randomKeys(fleet.random, 400, "c2");
    const before = await agreedRoutes(fleet, cluster.nodes, "users", keys);
    const victim = ups.ids[Math.floor(fleet.random() * ups.ids.length)];
    const victimKeys = keysOf(before, victim);
    assert.ok(victimKeys.length >= 20, fleet.why(`${victim} owns ${victimKeys.length} sample keys`));

    t.after(() => settleBreaker(fleet, victim, victimKeys));
    // Every instance gets 6 failing requests at once; those that see them all before the open
    // decision reaches them carry a failure run of 6 when the breaker opens.
    const wallT0 = Date.now();
    ups.failWithStatus(victim, 503);
    const burst = await Promise.all(
      cluster.nodes.map((n) => Promise.all(victimKeys.slice(0, 6).map((k) => keyedGet(n, k, "/c2-failing")))),
    );
    const carriers = cluster.nodes.filter((_, i) =>
      burst[i].every((r) => r.status === 503 && r.member === victim),
    );
    assert.ok(
      carriers.length >= 2,
      fleet.why(
        `at least 2 instances saw 6 failures in a row: ${burst.map((rs, i) => `${cluster.nodes[i].id}: ${rs.map((r) => `${r.status}/${r.member}`).join(" ")}`).join("; ")}`,
      ),
    );
    await cluster.waitBreaker("users", victim, "open", { timeoutMs: 10_000 });

    // Recovery, probed through one carrier only; the other carriers still hold their run.
    ups.recover(victim);
    const via = carriers[0];
    let closed = false;
    const closing = cluster
      .waitBreaker("users", victim, "closed", { timeoutMs: CLOSE_WITHIN_MS })
      .finally(() => {
        closed = true;
      });
    for (let i = 0; !closed && i < 1000; i++) {
      await keyedGet(via, victimKeys[i % victimKeys.length], "/c2-probe").catch(() => undefined);
      await sleep(20);
    }
    await closing;
    const closedAt = Date.now();

    // The member serves every instance's traffic again; nothing may trip the breaker now.
    for (let round = 0; round < 5; round++) {
      const rs = await Promise.all(cluster.nodes.map((n) => keyedGet(n, victimKeys[round], "/c2-after")));
      for (const r of rs) assert.equal(r.status, 200, r.text);
      await sleep(150);
    }
    await sleep(300);
    t.diagnostic(
      `(c2) instances that carried a failure run: ${carriers.map((n) => n.id).join(", ")}; probed via ${via.id}`,
    );
    const states = await cluster.states();
    const retrips = cluster
      .logLines((l) => l.msg === "breaker transition" && l.member === victim && Number(l.time) >= closedAt)
      .map((l) => `${l.node}: ${l.from}->${l.to} (${l.reason})`);
    const all = cluster
      .logLines((l) => l.msg === "breaker transition" && l.member === victim && Number(l.time) >= wallT0)
      .map((l) => `${l.from}->${l.to} (${l.reason})`);
    t.diagnostic(`(c2) transitions of ${victim}: ${all.join(", ")}`);
    assert.deepEqual(retrips, [], fleet.why(`no transition after the close; all: ${all.join(", ")}`));
    for (const [id, s] of states)
      assert.equal(
        member(s, "users", victim)?.breaker,
        "closed",
        fleet.why(`${id}: ${describeStates(states)}`),
      );
  });
});

/**
 * Leaves `victim`'s breaker closed and automatic whatever a test left it in: pinned closed, a
 * success through every instance (so none carries a failure run), then handed back to the rules.
 */
async function settleBreaker(fleet: Fleet, victim: string, keys: readonly string[]): Promise<void> {
  const { cluster, ups } = fleet;
  ups.recover(victim);
  const force = async (state: string) => {
    const r = await cluster.adminPost(cluster.live()[0], `/admin/pools/users/members/${victim}/breaker`, {
      state,
    });
    assert.equal(r.status, 200, `force ${state}: ${r.text}`);
  };
  await force("closed");
  await cluster.waitBreaker("users", victim, "closed", { timeoutMs: 10_000 });
  for (const n of cluster.live()) for (const k of keys.slice(0, 3)) await keyedGet(n, k, "/settle");
  await sleep(300);
  await force("auto");
  await cluster.waitBreaker("users", victim, "closed", { timeoutMs: 10_000 });
}

/**
 * The reason an instance gives for being degraded in its /readyz body ({ready: true, degraded:
 * true, reason}: it stays ready on its last state), or undefined when it does not say so.
 */
function degradedReason(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (b.degraded !== true) return undefined;
  return typeof b.reason === "string" ? b.reason : JSON.stringify(b);
}

async function waitReadyz(
  fleet: Fleet,
  n: FleetNode,
  pred: (r: { status: number; body: unknown; text: string }) => boolean,
  timeoutMs: number,
): Promise<{ status: number; body: unknown; text: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const r = await fleet.cluster.readyz(n);
    if (pred(r)) return r;
    last = `${r.status} ${r.text}`;
    await sleep(50);
  }
  throw new Error(fleet.why(`${n.id} /readyz never matched within ${timeoutMs}ms (last: ${last})`));
}
