// Kubernetes discovery end to end: 3 voter + 1 learner real shardgate processes route pool
// "web" from the EndpointSlices of Service shop/web, served by the Kubernetes API double. The
// "pods" are real echo upstreams on one port at different loopback addresses (127.0.0.2 ...
// stand for pod IPs). Pods are added, become ready, terminate, are deleted and rescheduled with
// a new IP (their keys stay), watches break and expire (410), and the API server is down for
// 10 s under load (routing unchanged, zero failed requests).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { describeLag, watchOwnLag } from "../support/cluster/event-loop-lag.js";
import { httpRequest, sleep } from "../support/cluster/http-client.js";
import { randomKeys } from "../support/cluster/keys.js";
import { describeLoad, SteadyLoad } from "../support/cluster/load.js";
import type { FleetCluster } from "../support/cluster-launcher.js";
import { KubePods, type Pod } from "../support/kube/pod-fleet.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { eventually } from "../support/wait.js";

const SEED = testSeed(1213);
/** Answers the load must get while the API server is down (a count, not a rate). */
const OUTAGE_ANSWERS = 100;
const why = (s: string) => `${s} (seed=${SEED})`;

describe("kubernetes discovery e2e (3 voters + 1 learner, EndpointSlices from the API double)", () => {
  const random = seededRandom(SEED);
  let k: KubePods;
  let cluster: FleetCluster | undefined;
  const startPod = (name: string, ip: string, ready = true) => k.startPod(name, ip, ready);
  const publish = () => k.publish();
  const want = (state?: (p: Pod) => string) => k.want(state);

  async function waitView(what: string, wanted: string, timeoutMs = 20_000) {
    const c = cluster as FleetCluster;
    return c.waitAll(why(`${what}: ${wanted}`), (s) => KubePods.view(s) === wanted, { timeoutMs });
  }

  const agreed = (keys: readonly string[]) => k.agreed(keys, why);

  before(async () => {
    k = await KubePods.create();
    await startPod("web-0", "127.0.0.2");
    await startPod("web-1", "127.0.0.3");
    await startPod("web-2", "127.0.0.4");
    publish();
    cluster = await k.startFleet(3);
  });

  after(async () => {
    const left = await k.close();
    assert.deepEqual(left, [], "no shardgate process outlives the test");
  });

  test("pods added (not ready, then ready) join every instance's ring at one version", async () => {
    await waitView("initial pods", want());
    const web3 = await startPod("web-3", "127.0.0.5", false);
    publish();
    await waitView(
      "web-3 listed, not ready",
      want((x) => (x === web3 ? "down" : "up")),
    );
    const keys = randomKeys(random, 400, "a");
    const before = await agreed(keys);
    assert.ok(![...before.values()].includes("web-3"), why("a pod that is not ready gets no keys"));
    web3.ready = true;
    publish();
    await waitView("web-3 ready", want());
    const afterReady = await agreed(keys);
    let moved = 0;
    for (const k of keys) {
      if (afterReady.get(k) !== before.get(k)) {
        moved++;
        assert.equal(afterReady.get(k), "web-3", why(`${k} moved only to the new pod`));
      }
    }
    assert.ok(moved > 0 && moved < keys.length / 2, why(`${moved} of ${keys.length} keys moved to web-3`));
  });

  test("a terminating pod drains (its keys move, nobody else's), then is removed when deleted", async () => {
    const keys = randomKeys(random, 400, "t");
    const before = await agreed(keys);
    const victim = k.pods.get("web-1") as Pod;
    victim.terminating = true;
    publish();
    await waitView(
      "web-1 draining",
      want((x) => (x.terminating ? "down" : "up")),
    );
    const draining = await agreed(keys);
    for (const k of keys) {
      if (before.get(k) === "web-1") assert.notEqual(draining.get(k), "web-1", why(k));
      else assert.equal(draining.get(k), before.get(k), why(`${k} stays where it was`));
    }
    k.pods.delete("web-1");
    k.retired.push(victim.up);
    publish();
    await waitView("web-1 gone", want());
  });

  test("a pod rescheduled with a new IP keeps its keys; requests follow it to the new address", async () => {
    const keys = randomKeys(random, 400, "r");
    const before = await agreed(keys);
    const old = k.pods.get("web-2") as Pod;
    k.retired.push(old.up);
    await old.up.die();
    k.pods.delete("web-2");
    await startPod("web-2", "127.0.0.9");
    publish();
    await waitView("web-2 moved", want());
    const afterMove = await agreed(keys);
    for (const k of keys) assert.equal(afterMove.get(k), before.get(k), why(`${k} keeps its pod`));
    const key = keys.find((k) => before.get(k) === "web-2");
    assert.ok(key !== undefined, why("some key is owned by web-2"));
    const moved = k.pods.get("web-2") as Pod;
    const served = moved.up.requests;
    const c = cluster as FleetCluster;
    for (const n of c.live()) {
      const res = await httpRequest(`${n.httpUrl}/r`, { headers: { "x-user-id": key }, timeoutMs: 5_000 });
      assert.equal(res.status, 200, why(`${n.id} serves ${key}`));
      assert.equal((res.body as { member?: string } | undefined)?.member, "web-2");
    }
    assert.equal(moved.up.requests - served, c.live().length, why("the new address got every request"));
  });

  test("a broken watch and a 410 Gone lose no change", async () => {
    k.api.breakWatches();
    await startPod("web-4", "127.0.0.6");
    publish();
    await waitView("web-4 after a broken watch", want());
    k.api.expireWatches();
    const p4 = k.pods.get("web-4") as Pod;
    p4.ready = false;
    publish();
    await waitView(
      "web-4 not ready after a 410",
      want((x) => (x.ready ? "up" : "down")),
    );
    p4.ready = true;
    publish();
    await waitView("web-4 ready again", want());
    assert.ok(k.api.counts.gone >= 1, "the double sent 410");
  });

  test("the API server is down for 10 s under load: routing unchanged, zero failed requests", async (t) => {
    const c = cluster as FleetCluster;
    const keys = randomKeys(random, 500, "d");
    const before = await agreed(keys);
    const v0 = (await c.states()).values().next().value?.ringVersion;
    await describeLag(c.live()); // starts each instance's stall window
    const ownLag = watchOwnLag();
    const load = new SteadyLoad({
      targets: c.live().map((n) => ({ id: n.id, httpUrl: n.httpUrl })),
      keys,
      expected: before as Map<string, string>,
      concurrency: 4,
      maxRequests: 20_000,
      maxMs: 60_000,
      pauseMs: 5,
      random,
    }).start();
    await sleep(500);
    await k.api.stop();
    const atOutage = load.done;
    await sleep(10_000);
    // The load must have run through the outage: wait for answers (a loaded machine serves
    // fewer per second), not for a rate.
    await eventually(
      "100 answers while the API server is down",
      () => (load.done - atOutage >= OUTAGE_ANSWERS ? true : undefined),
      30_000,
    );
    const during = await agreed(keys);
    const states = await c.states();
    for (const [id, s] of states)
      assert.equal(s.ringVersion, v0, why(`${id} ring version while the API server is down`));
    await k.api.start();
    const report = await load.stop();
    const lag = `${await describeLag(c.live())}, test process ${ownLag()}ms`;
    t.diagnostic(`load across the API server outage: ${describeLoad(report)}`);
    t.diagnostic(`worst event-loop stall per instance meanwhile: ${lag}`);
    assert.equal(report.failures.length, 0, why(`${describeLoad(report)}; event-loop stalls: ${lag}`));
    assert.equal(report.misrouted.length, 0, why(describeLoad(report)));
    assert.ok(report.ok >= OUTAGE_ANSWERS, why(`a steady load was served: ${describeLoad(report)}`));
    for (const k of keys) assert.equal(during.get(k), before.get(k), why(k));
    // And the watch comes back: a change after the outage applies everywhere.
    const p0 = k.pods.get("web-0") as Pod;
    p0.ready = false;
    publish();
    await waitView(
      "a change after the outage",
      want((x) => (x.ready ? "up" : "down")),
      45_000,
    );
  });
});
