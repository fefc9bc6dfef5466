// A reload that adds the first Kubernetes pool imports `@kubernetes/client-node` before it
// proposes the routing, as start does when a pool uses Kubernetes (health/kubernetes-client.ts).
// Before, nothing loaded it on reload: the leader's first EndpointSlice watch imported it after
// the commit, its synchronous evaluation (~1 s on a loaded machine) stalling the apply and Raft.
// A real process started without a Kubernetes pool; SIGHUP with a file that adds one served by
// the Kubernetes API double: the load is logged between "reloading config" and "config reloaded",
// and the pool's members are then watched and committed.

import assert from "node:assert/strict";
import { test } from "node:test";
import { KubeApiDouble } from "../support/kube-api-double.js";
import { issueMinimalConfig } from "../support/minimal-config.js";
import { startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";

test.after(() => stopAll());

test("a reload adding the first Kubernetes pool loads the client before it commits the routing", async (t) => {
  const d = await KubeApiDouble.create();
  const ups = await startUpstreams(3);
  t.after(async () => {
    await d.close();
    await closeAll(ups);
  });
  const base = issueMinimalConfig([ups[0].port, ups[1].port, ups[2].port]);
  const sg = await startShardgate(base);
  t.after(() => sg.stop());
  assert.ok(!sg.proc.lines.some((l) => l.msg === "kubernetes client loaded"), sg.proc.output());

  d.putSlice("shop", "web-a", "web", [{ pod: "web-0", ip: "127.0.0.1" }]);
  const kubeconfig = d.writeKubeconfig(`${sg.config.dir}/kubeconfig`);
  sg.config.write(
    base.replace(
      "routes:",
      `  web:
    discovery: { kubernetes: { service: web, namespace: shop, port: http, kubeconfig: ${JSON.stringify(kubeconfig)} } }
routes:
  - match: { host: web.example }
    pool: web
    key: [header:x-user-id]`,
    ),
  );
  sg.proc.signal("SIGHUP");
  const reloaded = await sg.proc.waitForLine(
    "the reload",
    (l) =>
      l.trigger === "SIGHUP" && (l.msg === "config reloaded" || String(l.msg).startsWith("config reload")),
  );
  assert.equal(reloaded.msg, "config reloaded", sg.proc.output());
  const lines = sg.proc.lines;
  const started = lines.findIndex((l) => l.msg === "reloading config");
  const loaded = lines.findIndex((l) => l.msg === "kubernetes client loaded");
  assert.ok(loaded >= 0, `no "kubernetes client loaded" line on reload\n${sg.proc.output()}`);
  assert.ok(started < loaded && loaded < lines.indexOf(reloaded), sg.proc.output());
  assert.equal(lines[loaded].trigger, "SIGHUP");
  assert.equal(typeof lines[loaded].ms, "number");
  // The new pool is then watched: its member is committed.
  await sg.proc.waitForLine(
    "the web pool's members committed",
    (l) => l.msg === "membership change committed" && l.pool === "web",
  );
  assert.ok(d.counts.lists >= 1);
});
