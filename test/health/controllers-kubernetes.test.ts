// The membership controller with a Kubernetes pool: the watcher is built from the pool's
// committed discovery.kubernetes section, its members are committed with source "kubernetes",
// a terminating pod is committed unhealthy even in panic, and a pool whose watcher cannot be
// built (no kubeconfig, not in a pod) reports why instead of failing.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { KubernetesWatcher, type KubernetesWatcherOptions } from "../../health/kubernetes-watcher.js";
import { MembershipController } from "../../health/membership-controller.js";
import { eventually } from "../support/wait.js";
import { FakeClock, FakeWatcher, TestCluster } from "./controllers-fakes.js";

const YAML = `pools:
  web:
    discovery: { kubernetes: { service: web, namespace: shop, port: http } }
routes:
  - pool: web
    key: [header:x-user-id]
`;

function setup(factory: boolean) {
  const clock = new FakeClock();
  const cluster = new TestCluster(YAML, clock);
  const built: KubernetesWatcherOptions[] = [];
  const watcher = new FakeWatcher();
  const c = new MembershipController({
    getState: cluster.getState,
    propose: cluster.propose,
    clock,
    watcherFactory: () => {
      throw new Error("a kubernetes pool must not get a consul watcher");
    },
    kubernetesWatcherFactory: factory
      ? (_pool, o) => {
          built.push(o);
          return watcher;
        }
      : undefined,
  });
  cluster.onApplied = () => c.refresh();
  return { clock, cluster, c, built, watcher };
}

test("kubernetes pool: watcher options from the committed section; members committed as source kubernetes", async () => {
  const { clock, cluster, c, built, watcher } = setup(true);
  c.start();
  assert.equal(built.length, 1);
  assert.deepEqual(
    { service: built[0].service, namespace: built[0].namespace, port: built[0].port },
    { service: "web", namespace: "shop", port: "http" },
  );
  watcher.set([
    { id: "web-0", address: "10.0.0.1", port: 8080 },
    { id: "web-1", address: "10.0.0.2", port: 8080 },
    { id: "web-2", address: "10.0.0.3", port: 8080 },
  ]);
  await clock.advance(500);
  const pool = cluster.current.pools.web;
  assert.deepEqual(
    pool.members.map((m) => `${m.id}:${m.source}:${m.healthy}`),
    ["web-0:kubernetes:true", "web-1:kubernetes:true", "web-2:kubernetes:true"],
  );
  assert.equal(c.status().web.source, "kubernetes");
  assert.equal(c.status().web.service, "shop/web");
  // Two not ready (panic: held healthy) and one terminating (committed unhealthy regardless).
  watcher.set([
    { id: "web-0", address: "10.0.0.1", port: 8080, healthy: false },
    { id: "web-1", address: "10.0.0.2", port: 8080, healthy: false },
    { id: "web-2", address: "10.0.0.3", port: 8080, healthy: false, draining: true },
  ]);
  await clock.advance(500);
  assert.deepEqual(
    cluster.current.pools.web.members.map((m) => `${m.id}:${m.healthy}`),
    ["web-0:true", "web-1:true", "web-2:false"],
  );
  assert.equal(c.status().web.panic, true);
  await c.stop();
});

test("kubernetes pool without kubeconfig outside a pod: the status says why, nothing throws", async (t) => {
  if (process.env.KUBERNETES_SERVICE_HOST)
    return t.skip("running inside a pod: the in-cluster config would load");
  const { c } = setup(false);
  c.start();
  const st = c.status().web;
  assert.equal(st.watcher, undefined);
  assert.match(
    st.watcherError ?? "",
    /not running in a pod.*discovery\.kubernetes\.kubeconfig.*\(HEALTH_NOT_IN_CLUSTER\)$/,
  );
  await c.stop();
});

test("a watcher that cannot reach any cluster says which way with a stable code", async (t) => {
  const section = { service: "web", namespace: "shop", port: "http" };
  assert.throws(
    () => new KubernetesWatcher({ ...section, kubeconfig: join(tmpdir(), "no-such-kubeconfig-9f3a") }),
    { code: "HEALTH_KUBECONFIG_MISSING", message: /kubeconfig .*no-such-kubeconfig-9f3a does not exist/ },
  );
  const dir = mkdtempSync(join(tmpdir(), "sg-kubeconfig-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const empty = join(dir, "config");
  writeFileSync(empty, "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n");
  // The file exists, so construction passes; loading it on the first request fails with its own code.
  const w = new KubernetesWatcher({ ...section, kubeconfig: empty, backoffBaseMs: 10, backoffMaxMs: 50 });
  t.after(() => w.stop());
  w.start();
  await eventually("the load failed", () => w.status().lastError);
  assert.match(w.status().lastError ?? "", /no current context.*HEALTH_KUBECONFIG_INVALID/);
  if (process.env.KUBERNETES_SERVICE_HOST) return;
  assert.throws(() => new KubernetesWatcher(section), {
    code: "HEALTH_NOT_IN_CLUSTER",
    message: /set discovery\.kubernetes\.kubeconfig/,
  });
});
