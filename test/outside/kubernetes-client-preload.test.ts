// `@kubernetes/client-node` is imported at start, before the cluster node, when a pool is
// discovered through Kubernetes: imported by the leader's first EndpointSlice watch instead, its
// synchronous evaluation (seconds on a loaded machine) blocked the event loop while Raft waited
// on fsyncs (`npm run bench -- kube-client-load` measures that). A real process with a pool
// served by the Kubernetes API double: the load is logged with its duration before the leader's
// controllers start, and the watch then lists at once. A process without such a pool never loads it.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { KubeApiDouble } from "../support/kube-api-double.js";
import { issueMinimalConfig } from "../support/minimal-config.js";
import { startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";

after(() => stopAll());

test("a Kubernetes pool: the client is loaded before Raft starts, and the first watch lists", async (t) => {
  const d = await KubeApiDouble.create();
  const dir = mkdtempSync(join(tmpdir(), "sg-kube-preload-"));
  t.after(async () => {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  });
  d.putSlice("shop", "web-a", "web", [{ pod: "web-0", ip: "127.0.0.1" }]);
  const kubeconfig = d.writeKubeconfig(join(dir, "kubeconfig"));
  const sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
pools:
  web:
    discovery: { kubernetes: { service: web, namespace: shop, port: http, kubeconfig: ${JSON.stringify(kubeconfig)} } }
routes:
  - pool: web
    key: [header:x-user-id]
`);
  t.after(() => sg.stop());
  const lines = sg.proc.lines;
  const controllers = await sg.proc.waitForLine(
    "the leader's controllers",
    (l) => l.msg === "leader: controllers started",
  );
  const loaded = lines.findIndex((l) => l.msg === "kubernetes client loaded");
  assert.ok(loaded >= 0, `no "kubernetes client loaded" line\n${sg.proc.output()}`);
  assert.ok(
    loaded < lines.indexOf(controllers),
    `loaded after the leader's controllers started\n${sg.proc.output()}`,
  );
  assert.equal(typeof lines[loaded].ms, "number");
  await sg.proc.waitForLine("the watched members committed", (l) => l.msg === "membership change committed");
  assert.ok(d.counts.lists >= 1);
});

test("no Kubernetes pool: the client is never loaded", async (t) => {
  const ups = await startUpstreams(3);
  t.after(() => closeAll(ups));
  const sg = await startShardgate(issueMinimalConfig([ups[0].port, ups[1].port, ups[2].port]));
  t.after(() => sg.stop());
  await sg.proc.waitForLine("listening", (l) => l.msg === "listening");
  assert.ok(!sg.proc.lines.some((l) => l.msg === "kubernetes client loaded"), sg.proc.output());
});
