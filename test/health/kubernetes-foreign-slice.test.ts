// Watch events for slices the watched Service does not own: a server (or a proxy in front of
// it) that sends another Service's or another namespace's EndpointSlice down this watch. The
// API server filters by the label selector itself, so the watcher used to take every object
// it was sent: another Service's pods became this pool's members. Now such a slice is
// ignored (counted, warned once), and one that moves away from the Service takes its
// endpoints with it, as the API server's own DELETED would.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { LogSink } from "../../config/log-sink.js";
import { KubernetesWatcher } from "../../health/kubernetes-watcher.js";
import { endpointSliceBody, KubeApiDouble } from "../support/kube-api-double.js";
import { eventually } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "sg-kube-foreign-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const port = { name: "http", port: 8080 };

test("slices of another service or namespace on the watch are not members", { timeout: 60_000 }, async () => {
  const d = await KubeApiDouble.create();
  const warns: string[] = [];
  const log: LogSink = { debug() {}, info() {}, warn: (_o, m) => warns.push(String(m)), error() {} };
  d.putSlice("default", "web-a", "web", [{ pod: "web-0", ip: "10.9.0.1" }]);
  const w = new KubernetesWatcher({
    service: "web",
    namespace: "default",
    port: "http",
    kubeconfig: d.writeKubeconfig(join(dir, "kubeconfig")),
    logger: log,
  });
  const ids = () => w.members().map((m) => `${m.id}@${m.address}`);
  try {
    w.start();
    await w.whenSynced();
    await eventually("the watcher's watch open", () => (d.openWatches > 0 ? true : undefined), 30_000);
    const rv = Number(d.resourceVersion);
    const foreign = (name: string, ns: string, service: string, pod: string, n: number) => ({
      ...endpointSliceBody(ns, name, service, [{ pod, ip: `10.9.1.${n}` }], port),
      metadata: {
        ...endpointSliceBody(ns, name, service, [], port).metadata,
        resourceVersion: String(rv + n),
      },
    });
    d.sendToWatches("ADDED", foreign("api-a", "default", "api", "api-0", 1));
    d.sendToWatches("ADDED", foreign("web-x", "other", "web", "other-0", 2));
    // web-a itself relabelled to another Service: its endpoints leave this pool.
    d.sendToWatches("MODIFIED", foreign("web-a", "default", "api", "api-9", 3));
    // A real change after them, so the events above have been read when it shows.
    d.putSlice("default", "web-b", "web", [{ pod: "web-1", ip: "10.9.0.2" }]);
    await eventually(
      "web-1 from the real change",
      () => (ids().includes("web-1@10.9.0.2") ? true : undefined),
      30_000,
    );
    assert.deepEqual(ids(), ["web-1@10.9.0.2"], "no foreign member; the relabelled slice's pod is gone");
    assert.equal(w.status().foreignSlices, 3);
    assert.equal(warns.filter((m) => /another service or namespace/.test(m)).length, 1, warns.join("\n"));
  } finally {
    await w.stop();
    await d.close();
  }
});
