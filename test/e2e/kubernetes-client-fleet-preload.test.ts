// A reload that adds the first Kubernetes pool, sent to a follower: the Raft leader, which runs
// the EndpointSlice watch, must have imported `@kubernetes/client-node` before its first list
// (health/kubernetes-client.ts). Before, only the reloading instance preloaded it; the leader
// imported it inside its first watch, a ~1 s synchronous evaluation on the event loop that
// carries Raft's heartbeats and fsyncs. Now every instance preloads when it applies a committed
// state naming such a pool (proxy/cluster/cluster-node.ts) and logs it once.
// A real 3-voter fleet started with a static pool only; the Kubernetes API double serves the
// new pool's slices and notes when the first list arrives.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { staticPoolYaml } from "../support/cluster/static-pool.js";
import type { FleetCluster } from "../support/cluster-launcher.js";
import { FleetCluster as Fleet } from "../support/cluster-launcher.js";
import { KubeApiDouble } from "../support/kube-api-double.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";

const LOADED = "kubernetes client loaded";

test("a reload sent to a follower: the leader loads the Kubernetes client before its first list", async (t) => {
  const d = await KubeApiDouble.create();
  const ups = await startUpstreams(2);
  let fleet: FleetCluster | undefined;
  t.after(async () => {
    await fleet?.stop();
    await d.close();
    await closeAll(ups);
  });
  fleet = await Fleet.start({
    ids: ["a", "b", "c"],
    voters: 3,
    consulAddress: "127.0.0.1:1",
    routingYaml: staticPoolYaml(ups.map((u) => ({ id: u.id, port: u.port }))),
  });
  const { leader } = await fleet.waitConverged();
  const output = () => fleet?.nodes.map((n) => `--- ${n.id}\n${n.tail(6000)}`).join("\n") ?? "";
  assert.deepEqual(
    fleet.logLines((l) => l.msg === LOADED),
    [],
    "no instance loads the client without a Kubernetes pool",
  );

  d.putSlice("shop", "kweb-a", "kweb", [{ pod: "kweb-0", ip: "127.0.0.1" }]);
  const follower = fleet.nodes.find((n) => n.id !== leader);
  assert.ok(follower?.proc !== undefined);
  const kubeconfig = d.writeKubeconfig(`${follower.configPath}.kubeconfig`);
  const before = readFileSync(follower.configPath, "utf8");
  const at = before.lastIndexOf("\nroutes:\n");
  assert.ok(at > 0, before);
  writeFileSync(
    follower.configPath,
    `${before.slice(0, at)}
  kweb:
    discovery: { kubernetes: { service: kweb, namespace: shop, port: http, kubeconfig: ${JSON.stringify(kubeconfig)} } }
routes:
  - match: { host: kweb.example }
    pool: kweb
    key: [header:x-user-id]
${before.slice(at + "\nroutes:\n".length)}`,
  );
  follower.proc.signal("SIGHUP");
  const reloaded = await follower.proc.waitForLine(
    "the follower's reload",
    (l) =>
      l.trigger === "SIGHUP" && (l.msg === "config reloaded" || String(l.msg).startsWith("config reload")),
  );
  assert.equal(reloaded.msg, "config reloaded", output());

  // The pool is watched by the leader: its member is committed.
  const committed = await eventually(
    "the kweb member committed by the leader's watch",
    () => fleet?.logLines((l) => l.msg === "membership change committed" && l.pool === "kweb")[0],
    30_000,
  );
  // The reloading follower preloaded on its reload: had it become leader, this would prove nothing.
  assert.notEqual(committed.node, follower.id, `leadership moved to the reloading follower\n${output()}`);
  assert.ok(d.firstListAt !== undefined);

  // The instance whose watch committed the member (the leader at the reload, or the one that
  // took over if leadership moved) loaded the client before that watch.
  const watcher = fleet.node(committed.node);
  const lines = watcher.logLines(() => true);
  const loaded = lines.findIndex((l) => l.msg === LOADED);
  assert.ok(loaded >= 0, `${watcher.id}, whose watch committed kweb, never logged "${LOADED}"\n${output()}`);
  assert.ok(
    loaded < lines.findIndex((l) => l.msg === "membership change committed" && l.pool === "kweb"),
    output(),
  );
  // The leader at the reload listed first unless leadership moved: logged (pino's epoch ms,
  // the same clock) no later than the API server saw that first list.
  if (committed.node === leader)
    assert.ok(
      Number(lines[loaded].time) <= d.firstListAt,
      `${lines[loaded].time} > ${d.firstListAt}\n${output()}`,
    );
  assert.equal(typeof lines[loaded].ms, "number");
  // Once per instance: the reloading follower logs it with its trigger, the others when they apply.
  await eventually(
    "every instance logged the load",
    () => (fleet?.nodes.every((n) => n.logLines((l) => l.msg === LOADED).length === 1) ? true : undefined),
    30_000,
  );
  assert.equal(follower.logLines((l) => l.msg === LOADED)[0].trigger, "SIGHUP");
});
