// Kubernetes discovery end to end: 3 voter + 1 learner real shardgate processes route pool
// "web" from the EndpointSlices of Service shop/web, served by the Kubernetes API double. The
// "pods" are real echo upstreams on one port at different loopback addresses (127.0.0.2 ...
// stand for pod IPs). Pods are added, become ready, terminate, are deleted and rescheduled with
// a new IP (their keys stay), watches break and expire (410), and the API server is down for
// 10 s under load (routing unchanged, zero failed requests).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { httpRequest, sleep } from "../support/cluster/http-client.js";
import { randomKeys } from "../support/cluster/keys.js";
import { describeLoad, SteadyLoad } from "../support/cluster/load.js";
import { FleetCluster, type StateView } from "../support/cluster-launcher.js";
import { KubeApiDouble, type SliceEndpoint } from "../support/kube-api-double.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { EchoUpstream } from "../support/upstreams.js";

const SEED = testSeed(1213);
const why = (s: string) => `${s} (seed=${SEED})`;
const NS = "shop";

interface Pod {
  name: string;
  ip: string;
  ready: boolean;
  terminating: boolean;
  up: EchoUpstream;
}

describe("kubernetes discovery e2e (3 voters + 1 learner, EndpointSlices from the API double)", () => {
  const random = seededRandom(SEED);
  let api: KubeApiDouble;
  let cluster: FleetCluster | undefined;
  let dir: string;
  let port = 0;
  const pods = new Map<string, Pod>();
  const retired: EchoUpstream[] = [];

  async function startPod(name: string, ip: string, ready = true): Promise<Pod> {
    const up = await new EchoUpstream(name).start(port, ip);
    port = up.port;
    const pod = { name, ip, ready, terminating: false, up };
    pods.set(name, pod);
    return pod;
  }

  /** Publishes the pods as one slice, the way the EndpointSlice controller would. */
  function publish(): void {
    const eps: SliceEndpoint[] = [...pods.values()].map((p) => ({
      pod: p.name,
      ip: p.ip,
      ready: p.ready && !p.terminating,
      serving: p.ready,
      terminating: p.terminating,
    }));
    api.putSlice(NS, "web-abcde", "web", eps, { name: "http", port });
  }

  const view = (s: StateView) =>
    (s.pools.web?.members ?? [])
      .map((m) => `${m.id}@${m.address}:${m.healthy ? "up" : "down"}`)
      .sort()
      .join(" ");

  async function waitView(what: string, want: string, timeoutMs = 20_000): Promise<Map<string, StateView>> {
    const c = cluster as FleetCluster;
    return c.waitAll(why(`${what}: ${want}`), (s) => view(s) === want, { timeoutMs });
  }

  /** Routes of `keys` on every instance; asserts they agree; returns key -> member. */
  async function agreed(keys: readonly string[]): Promise<Map<string, string | null>> {
    const c = cluster as FleetCluster;
    const per = await Promise.all(c.live().map((n) => c.routes(n, "web", keys, 12)));
    const ref = per[0];
    const versions = new Set(per.flatMap((rs) => rs.map((r) => r.ringVersion)));
    assert.equal(versions.size, 1, why(`one ring version on every instance, saw ${[...versions]}`));
    for (const rs of per)
      for (let i = 0; i < keys.length; i++) assert.equal(rs[i].member, ref[i].member, why(keys[i]));
    return new Map(keys.map((k, i) => [k, ref[i].member]));
  }

  const addr = (p: Pod) => `${p.name}@${p.ip}:${port}`;
  /** The view every instance should show: each pod as `state(pod)`, sorted like `view`. */
  const want = (state: (p: Pod) => string = () => "up") =>
    [...pods.values()]
      .map((p) => `${addr(p)}:${state(p)}`)
      .sort()
      .join(" ");

  before(async () => {
    api = await KubeApiDouble.create({ bookmarkIntervalMs: 500 });
    dir = mkdtempSync(join(tmpdir(), "shardgate-k8s-e2e-"));
    const kubeconfig = api.writeKubeconfig(join(dir, "kubeconfig"));
    await startPod("web-0", "127.0.0.2");
    await startPod("web-1", "127.0.0.3");
    await startPod("web-2", "127.0.0.4");
    publish();
    cluster = await FleetCluster.start({
      // No pool uses Consul; the agent section only needs to parse.
      consulAddress: "127.0.0.1:1",
      routingYaml: `pools:
  web:
    algorithm: ring
    discovery: { kubernetes: { service: web, namespace: ${NS}, port: http, kubeconfig: ${JSON.stringify(kubeconfig)} } }
routes:
  - pool: web
    key: [header:x-user-id]
    onMissingKey: reject
`,
    });
    await cluster.waitConverged({
      timeoutMs: 30_000,
      accept: (s) => (s.pools.web?.members.length ?? 0) === 3,
    });
  });

  after(async () => {
    const left = (await cluster?.stop()) ?? [];
    await api?.close();
    for (const p of pods.values()) await p.up.close();
    for (const u of retired) await u.close();
    rmSync(dir, { recursive: true, force: true });
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
    const victim = pods.get("web-1") as Pod;
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
    pods.delete("web-1");
    retired.push(victim.up);
    publish();
    await waitView("web-1 gone", want());
  });

  test("a pod rescheduled with a new IP keeps its keys; requests follow it to the new address", async () => {
    const keys = randomKeys(random, 400, "r");
    const before = await agreed(keys);
    const old = pods.get("web-2") as Pod;
    retired.push(old.up);
    await old.up.die();
    pods.delete("web-2");
    await startPod("web-2", "127.0.0.9");
    publish();
    await waitView("web-2 moved", want());
    const afterMove = await agreed(keys);
    for (const k of keys) assert.equal(afterMove.get(k), before.get(k), why(`${k} keeps its pod`));
    const key = keys.find((k) => before.get(k) === "web-2");
    assert.ok(key !== undefined, why("some key is owned by web-2"));
    const moved = pods.get("web-2") as Pod;
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
    api.breakWatches();
    await startPod("web-4", "127.0.0.6");
    publish();
    await waitView("web-4 after a broken watch", want());
    api.expireWatches();
    const p4 = pods.get("web-4") as Pod;
    p4.ready = false;
    publish();
    await waitView(
      "web-4 not ready after a 410",
      want((x) => (x.ready ? "up" : "down")),
    );
    p4.ready = true;
    publish();
    await waitView("web-4 ready again", want());
    assert.ok(api.counts.gone >= 1, "the double sent 410");
  });

  test("the API server is down for 10 s under load: routing unchanged, zero failed requests", async (t) => {
    const c = cluster as FleetCluster;
    const keys = randomKeys(random, 500, "d");
    const before = await agreed(keys);
    const v0 = (await c.states()).values().next().value?.ringVersion;
    const load = new SteadyLoad({
      targets: c.live().map((n) => ({ id: n.id, httpUrl: n.httpUrl })),
      keys,
      expected: before as Map<string, string>,
      concurrency: 4,
      maxRequests: 20_000,
      maxMs: 13_000,
      pauseMs: 5,
      random,
    }).start();
    await sleep(500);
    await api.stop();
    await sleep(10_000);
    const during = await agreed(keys);
    const states = await c.states();
    for (const [id, s] of states)
      assert.equal(s.ringVersion, v0, why(`${id} ring version while the API server is down`));
    await api.start();
    const report = await load.stop();
    t.diagnostic(`load across the API server outage: ${describeLoad(report)}`);
    assert.equal(report.failures.length, 0, why(describeLoad(report)));
    assert.equal(report.misrouted.length, 0, why(describeLoad(report)));
    assert.ok(report.ok > 400, why(`a steady load was served: ${describeLoad(report)}`));
    for (const k of keys) assert.equal(during.get(k), before.get(k), why(k));
    // And the watch comes back: a change after the outage applies everywhere.
    const p0 = pods.get("web-0") as Pod;
    p0.ready = false;
    publish();
    await waitView(
      "a change after the outage",
      want((x) => (x.ready ? "up" : "down")),
      45_000,
    );
  });
});
