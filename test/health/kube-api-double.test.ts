// The Kubernetes API double checked against the real client: `@kubernetes/client-node`'s own
// informer (makeInformer / ListWatch) lists and watches it (add, update, terminating, delete,
// a 410 re-list, the API server down and back), and shardgate's KubernetesWatcher is driven
// through every fault the double offers (bookmarks, broken, slow, silent and instantly ending
// watches, 410, failing lists). With KUBECONFIG set the same tests also run against that
// cluster (in a namespace of their own; the ones that need a fault only the double can inject
// skip, saying so); without it that run is skipped with the reason.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DiscoveryV1Api, makeInformer, type V1EndpointSlice } from "@kubernetes/client-node";
import { KubernetesWatcher, type KubernetesWatcherOptions } from "../../health/kubernetes-watcher.js";
import { clusterSkipReason, type KubeTarget, kubeTarget, needControls } from "../support/kube/target.js";
import { testSeed } from "../support/prng.js";
import { eventually } from "../support/wait.js";

const SEED = testSeed(1212);
const why = (s: string) => `${s} (seed=${SEED})`;

for (const kind of ["double", "cluster"] as const) {
  describe(`Kubernetes API (${kind}) under the real client`, {
    skip: kind === "cluster" && clusterSkipReason(),
  }, () => {
    let target: KubeTarget;
    const stops: (() => Promise<void> | void)[] = [];
    let seq = 0;
    const svc = () => `svc-${SEED}-${++seq}`;

    before(async () => {
      target = await kubeTarget(SEED, kind, { bookmarkIntervalMs: 200 });
    });
    after(async () => {
      while (stops.length > 0) await stops.pop()?.();
      await target.close();
    });

    function informer(service: string) {
      const api = target.kubeConfig.makeApiClient(DiscoveryV1Api);
      const selector = `kubernetes.io/service-name=${service}`;
      const inf = makeInformer<V1EndpointSlice>(
        target.kubeConfig,
        `/apis/discovery.k8s.io/v1/namespaces/${target.namespace}/endpointslices`,
        () => api.listNamespacedEndpointSlice({ namespace: target.namespace, labelSelector: selector }),
        selector,
      );
      const seen: string[] = [];
      const errors: unknown[] = [];
      inf.on("add", (o) => seen.push(`add ${o.metadata?.name}`));
      inf.on("update", (o) =>
        seen.push(`update ${o.metadata?.name} ${o.endpoints?.[0]?.conditions?.terminating}`),
      );
      inf.on("delete", (o) => seen.push(`delete ${o.metadata?.name}`));
      inf.on("error", (e) => errors.push(e));
      stops.push(() => inf.stop());
      return { inf, seen, errors };
    }

    function watcher(service: string, o: Partial<KubernetesWatcherOptions> = {}) {
      const w = new KubernetesWatcher({
        service,
        namespace: target.namespace,
        port: "http",
        kubeconfig: target.kubeconfig,
        backoffBaseMs: 50,
        backoffMaxMs: 400,
        seed: SEED,
        ...o,
      });
      stops.push(() => w.stop());
      w.start();
      return w;
    }

    const ids = (w: KubernetesWatcher) =>
      w.members().map((m) => `${m.id}@${m.address}:${m.healthy ? "up" : m.draining ? "draining" : "down"}`);
    const until = (w: KubernetesWatcher, want: string[], what: string, ms = 15_000) =>
      eventually(
        why(`${what}: ${JSON.stringify(want)}`),
        () => (JSON.stringify(ids(w)) === JSON.stringify(want) ? true : undefined),
        ms,
      );

    test("the client's informer sees add, update (terminating) and delete", async () => {
      const s = svc();
      await target.putSlice(`${s}-a`, s, [{ pod: "p0", ip: "10.1.0.1" }]);
      const { inf, seen, errors } = informer(s);
      await inf.start();
      await eventually(why("initial add"), () => (seen.includes(`add ${s}-a`) ? true : undefined));
      await target.putSlice(`${s}-b`, s, [{ pod: "p1", ip: "10.1.0.2" }]);
      await target.putSlice(`${s}-a`, s, [
        { pod: "p0", ip: "10.1.0.1", ready: false, serving: true, terminating: true },
      ]);
      await target.deleteSlice(`${s}-b`);
      await eventually(why("delete seen"), () => (seen.includes(`delete ${s}-b`) ? true : undefined));
      assert.deepEqual(
        seen,
        [`add ${s}-a`, `add ${s}-b`, `update ${s}-a true`, `delete ${s}-b`],
        why("informer order"),
      );
      assert.deepEqual(errors, []);
      assert.equal(inf.list(target.namespace).length, 1);
    });

    test("the informer re-lists after 410 Gone and resumes", async (t) => {
      const d = needControls(t, target, "compaction (410 Gone)");
      if (d === undefined) return;
      const s = svc();
      await target.putSlice(`${s}-a`, s, [{ pod: "p0", ip: "10.2.0.1" }]);
      const { inf, seen } = informer(s);
      await inf.start();
      await eventually(why("initial add"), () => (seen.length === 1 ? true : undefined));
      const lists = d.counts.lists;
      d.expireWatches();
      await eventually(why("re-list after 410"), () => (d.counts.lists > lists ? true : undefined));
      await target.putSlice(`${s}-b`, s, [{ pod: "p1", ip: "10.2.0.2" }]);
      await eventually(why("add after the re-list"), () => (seen.includes(`add ${s}-b`) ? true : undefined));
      assert.ok(d.counts.gone >= 1);
    });

    test("the informer reports the API server down, and a restart after it is back catches up", async (t) => {
      const d = needControls(t, target, "stopping the API server");
      if (d === undefined) return;
      const s = svc();
      await target.putSlice(`${s}-a`, s, [{ pod: "p0", ip: "10.3.0.1" }]);
      const { inf, seen, errors } = informer(s);
      await inf.start();
      await eventually(why("initial add"), () => (seen.length === 1 ? true : undefined));
      await d.stop();
      await eventually(why("informer error while down"), () => (errors.length > 0 ? true : undefined));
      await target.putSlice(`${s}-b`, s, [{ pod: "p1", ip: "10.3.0.2" }]);
      await d.start();
      await inf.start();
      await eventually(why("add after restart"), () => (seen.includes(`add ${s}-b`) ? true : undefined));
    });

    test("KubernetesWatcher: list, then watch with bookmarks, resuming from the last version", async (t) => {
      const s = svc();
      await target.putSlice(`${s}-a`, s, [
        { pod: "web-0", ip: "10.4.0.1" },
        { pod: "web-1", ip: "10.4.0.2", ready: false },
      ]);
      const w = watcher(s);
      await w.whenSynced();
      assert.deepEqual(ids(w), ["web-0@10.4.0.1:up", "web-1@10.4.0.2:down"]);
      await target.putSlice(`${s}-a`, s, [
        { pod: "web-0", ip: "10.4.0.1", ready: false, serving: true, terminating: true },
        { pod: "web-1", ip: "10.4.0.2" },
      ]);
      await until(w, ["web-0@10.4.0.1:draining", "web-1@10.4.0.2:up"], "terminating and ready");
      const d = target.controls;
      if (d === undefined) return t.diagnostic("bookmark checks need the double's counters");
      await eventually(why("a bookmark"), () => (w.status().bookmarks > 0 ? true : undefined));
      const q = d.watchQueries.at(-1);
      assert.equal(q?.get("allowWatchBookmarks"), "true");
      assert.equal(q?.get("labelSelector"), `kubernetes.io/service-name=${s}`);
      assert.equal(w.status().lists, 1, "no re-list without a reason");
    });

    test("KubernetesWatcher: a broken watch resumes from its version without a re-list", async (t) => {
      const d = needControls(t, target, "cutting watch connections");
      if (d === undefined) return;
      const s = svc();
      await target.putSlice(`${s}-a`, s, [{ pod: "web-0", ip: "10.5.0.1" }]);
      const w = watcher(s);
      await w.whenSynced();
      const watches = w.status().watches;
      d.breakWatches();
      await target.putSlice(`${s}-a`, s, [
        { pod: "web-0", ip: "10.5.0.1" },
        { pod: "web-1", ip: "10.5.0.2" },
      ]);
      await until(w, ["web-0@10.5.0.1:up", "web-1@10.5.0.2:up"], "change made while the watch was cut");
      assert.ok(w.status().watches > watches);
      assert.equal(w.status().lists, 1, why("resumed, not re-listed"));
      const resumed = d.watchQueries.at(-1)?.get("resourceVersion");
      assert.ok(resumed !== undefined && resumed !== "", "watch carries a resourceVersion");
    });

    test("KubernetesWatcher: 410 re-lists and replaces the view (a slice deleted meanwhile is gone)", async (t) => {
      const d = needControls(t, target, "compaction (410 Gone)");
      if (d === undefined) return;
      const s = svc();
      await target.putSlice(`${s}-a`, s, [{ pod: "web-0", ip: "10.6.0.1" }]);
      await target.putSlice(`${s}-b`, s, [{ pod: "web-1", ip: "10.6.0.2" }]);
      const w = watcher(s);
      await w.whenSynced();
      // While the API server is away, a slice goes away and the history is compacted: only a
      // re-list can tell, since the watch resumes from a version that no longer exists.
      await d.stop();
      await target.deleteSlice(`${s}-b`);
      d.compact();
      await d.start();
      await until(w, ["web-0@10.6.0.1:up"], "view after re-list");
      assert.ok(w.status().gone >= 1, why("410 seen"));
      assert.equal(w.status().lists, 2);
    });

    test("KubernetesWatcher: slow and silent watches, failing lists, and a server that ends every watch at once", async (t) => {
      const d = needControls(t, target, "slow, silent and failing requests");
      if (d === undefined) return;
      // The failures below are the double's, shared by every client: earlier tests' watchers go first.
      while (stops.length > 0) await stops.pop()?.();
      const s = svc();
      d.failNextLists(3, s);
      await target.putSlice(`${s}-a`, s, [{ pod: "web-0", ip: "10.7.0.1" }]);
      const w = watcher(s, { watchTimeoutSec: 1, idleGraceMs: 400, rateLimit: 2, rateBurst: 4 });
      await w.whenSynced();
      assert.equal(w.status().lists, 4, why("three failed lists retried"));
      assert.match(w.status().lastError ?? "", /HTTP 500/);
      assert.equal(w.status().consecutiveErrors, 0);

      d.slowWatches(300);
      d.breakWatches();
      await target.putSlice(`${s}-a`, s, [
        { pod: "web-0", ip: "10.7.0.1" },
        { pod: "web-1", ip: "10.7.0.9" },
      ]);
      await until(w, ["web-0@10.7.0.1:up", "web-1@10.7.0.9:up"], "change through a slow watch");
      d.slowWatches(0);

      d.silenceWatches(true);
      d.breakWatches();
      await eventually(
        why("a silent watch dropped"),
        () => (w.status().idleAborts > 0 ? true : undefined),
        15_000,
      );
      d.silenceWatches(false);
      await target.putSlice(`${s}-a`, s, [{ pod: "web-1", ip: "10.7.0.9" }]);
      await until(w, ["web-1@10.7.0.9:up"], "change after silence");

      // A server that ends every watch at once: the token bucket bounds the request rate.
      d.endWatchesAtOnce(true);
      d.breakWatches();
      const before = w.status().requests;
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 2000));
      const sent = w.status().requests - before;
      const seconds = (performance.now() - t0) / 1000;
      d.endWatchesAtOnce(false);
      assert.ok(
        sent <= 4 + 2 * seconds + 1,
        why(`${sent} requests in ${seconds.toFixed(1)} s exceeds burst 4 + 2/s`),
      );
      assert.ok(sent >= 2, why(`the loop kept going (${sent} requests)`));
    });
  });
}
