// A StatefulSet rolling update, played with real processes: the three voters are restarted one
// at a time, highest ordinal first, as the StatefulSet controller does. Each one leaves the
// Service's endpoints (the load stops sending to it), waits out its preStop, gets SIGTERM,
// drains and exits; it starts again on the same data directory, and the next one goes only
// once it is ready again. A steady keyed load runs across all four instances throughout.
// Expected: zero failed requests (not even on the instance going down: its in-flight requests
// finish), every answer from the key's owner, the learner routing exactly as the voters after
// every step, and every instance at one ring version at the end, the one it started at.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { httpRequest, sleep } from "../support/cluster/http-client.js";
import { randomKeys } from "../support/cluster/keys.js";
import { describeLoad, SteadyLoad } from "../support/cluster/load.js";
import type { FleetCluster, FleetNode } from "../support/cluster-launcher.js";
import { KubePods, retryTransport } from "../support/kube/pod-fleet.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { START_DEADLINE_MS, scaled } from "../support/wait.js";

const SEED = testSeed(1214);
const why = (s: string) => `${s} (seed=${SEED})`;
/** What k8s/fleet's preStop sleeps, scaled down: callers stop sending before SIGTERM. */
const PRESTOP_MS = 500;

describe("rolling restart of 3 voters under load, with a learner (Kubernetes discovery)", () => {
  const random = seededRandom(SEED);
  let k: KubePods;
  let cluster: FleetCluster;

  before(async () => {
    k = await KubePods.create();
    for (let i = 0; i < 4; i++) await k.startPod(`web-${i}`, `127.0.0.${i + 2}`);
    k.publish();
    cluster = await k.startFleet(4);
  });

  after(async () => {
    const left = await k.close();
    assert.deepEqual(left, [], "no shardgate process outlives the test");
  });

  async function waitReady(n: FleetNode): Promise<void> {
    const deadline = Date.now() + scaled(START_DEADLINE_MS);
    for (;;) {
      const r = await httpRequest(`${n.adminUrl}/readyz`, { timeoutMs: 2_000, fresh: true }).catch(
        () => undefined,
      );
      if (r?.status === 200) return;
      if (Date.now() > deadline)
        throw new Error(why(`${n.id} not ready ${scaled(START_DEADLINE_MS)} ms after restart: ${r?.text}`));
      await sleep(50);
    }
  }

  test("voters c, b, a restarted one by one: zero failed requests, learner identical, one ring version", async (t) => {
    const keys = randomKeys(random, 300, "roll");
    const before = await k.agreed(keys, why);
    const v0 = (await cluster.waitConverged()).states.values().next().value?.ringVersion;
    const learner = cluster.nodes.find((n) => !n.voter) as FleetNode;
    const voters = cluster.nodes.filter((n) => n.voter).reverse();
    assert.equal(voters.length, 3);
    const load = new SteadyLoad({
      targets: cluster.nodes.map((n) => ({ id: n.id, httpUrl: n.httpUrl })),
      keys,
      expected: before as Map<string, string>,
      concurrency: 4,
      maxRequests: 200_000,
      maxMs: 150_000,
      pauseMs: 2,
      random,
    }).start();
    const leaders: string[] = [];
    // Where the time goes, per voter (the file hit the 300 s test timeout at load ~40): each
    // step is reported when it ends, so a timeout still shows how far the restarts got.
    let mark = performance.now();
    const lap = (v: FleetNode, what: string) => {
      const now = performance.now();
      t.diagnostic(`${v.id}: ${what} in ${Math.round(now - mark)} ms`);
      mark = now;
    };
    for (const v of voters) {
      mark = performance.now();
      const s = await retryTransport(() => cluster.stateOf(learner));
      leaders.push(s.raft.leader ?? "none");
      load.exclude(v.id);
      await sleep(PRESTOP_MS);
      const proc = v.proc;
      assert.ok(proc !== undefined);
      proc.signal("SIGTERM");
      const exit = await proc.waitExit(20_000);
      assert.equal(exit.code, 0, why(`${v.id} drains and exits 0 on SIGTERM: ${JSON.stringify(exit)}`));
      lap(v, "preStop, SIGTERM, drained and exited");
      // While it is away the other three, learner included, still agree.
      const during = await k.agreed(keys, why);
      for (const key of keys)
        assert.equal(during.get(key), before.get(key), why(`${key} while ${v.id} is down`));
      lap(v, "the other three agreed on every key");
      await cluster.restart(v);
      lap(v, "restarted (listening)");
      await waitReady(v);
      lap(v, "ready");
      load.include(v.id);
      await cluster.waitConverged({ timeoutMs: 30_000 });
      const after = await k.agreed(keys, why);
      for (const key of keys)
        assert.equal(after.get(key), before.get(key), why(`${key} after ${v.id} is back`));
      lap(v, "converged, all four agreed on every key");
    }
    // Keep the load on the restored fleet for a moment, then stop it.
    await sleep(1_000);
    const report = await load.stop();
    t.diagnostic(`leaders before each restart: ${leaders.join(", ")}`);
    t.diagnostic(`load across the rolling restart: ${describeLoad(report)}`);
    assert.equal(report.failures.length, 0, why(describeLoad(report)));
    assert.equal(
      report.excluded,
      0,
      why(`in-flight requests to a stopping voter all finished: ${describeLoad(report)}`),
    );
    assert.equal(report.misrouted.length, 0, why(describeLoad(report)));
    assert.ok(
      (report.perTarget[learner.id] ?? 0) > 100,
      why(`the learner served throughout: ${describeLoad(report)}`),
    );
    const end = await cluster.waitConverged({ timeoutMs: 30_000 });
    const versions = new Set([...end.states.values()].map((s) => s.ringVersion));
    assert.deepEqual([...versions], [v0], why("every instance at the ring version it started at"));
  });
});
