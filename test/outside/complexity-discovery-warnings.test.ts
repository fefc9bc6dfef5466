// Discovery answers full of malformed entries, tried from a dependency's side: the log stays
// bounded. Seen before the fix: the Consul and Kubernetes watchers logged one warning line per
// malformed entry at every change of the answer (~50x the answer in log bytes): 1,000 bad
// entries, 1,000 lines; the next change of them, 1,000 more. Now more than a few warnings are
// one summary line (the count and the first three), the full list at debug level.
//
// A real ConsulWatcher reads a real HTTP server on 127.0.0.1 that answers the health query
// with 1,000 malformed entries, then (the blocking query) 1,000 other ones; a real
// KubernetesWatcher reads the Kubernetes API double's EndpointSlices of 1,000 endpoints
// without a pod name, then a second such slice.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { consulAgentSchema, poolConsulSchema } from "../../config/file/schema.js";
import type { LogSink } from "../../config/log-sink.js";
import { ConsulWatcher } from "../../health/consul-watcher.js";
import { KubernetesWatcher } from "../../health/kubernetes-watcher.js";
import { KubeApiDouble } from "../support/kube-api-double.js";
import { eventually } from "../support/wait.js";

const BAD = 1_000;
/** Two changes of the warnings: a few lines each at most, never one per entry. */
const MAX_WARN_LINES = 10;

function recordingLog(): LogSink & { warns: { fields: object; msg: string }[]; debugs: number } {
  const warns: { fields: object; msg: string }[] = [];
  const log = {
    warns,
    debugs: 0,
    debug() {
      log.debugs++;
    },
    info() {},
    warn(fields: object, msg?: string) {
      warns.push({ fields, msg: String(msg) });
    },
    error() {},
  };
  return log;
}

const node = { Node: "n1", Address: "127.0.0.1" };
const good = {
  Node: node,
  Service: { ID: "web-0", Service: "web", Address: "127.0.0.1", Port: 8080 },
  Checks: [],
};

test(`Consul: ${BAD} malformed entries, changed once, log a bounded number of warning lines`, {
  timeout: 60_000,
}, async () => {
  const answers = [
    // Missing Service: skipped.
    [good, ...Array.from({ length: BAD }, () => ({ Node: node }))],
    // A Service.ID without an address or port: skipped, each named.
    [
      good,
      ...Array.from({ length: BAD }, (_, i) => ({ Node: node, Service: { ID: `bad-${i}` }, Checks: [] })),
    ],
  ];
  const held: ServerResponse[] = [];
  let queries = 0;
  const server = createServer((req, res) => {
    const index = Number(new URL(req.url ?? "/", "http://x").searchParams.get("index") ?? "0");
    queries++;
    if (index >= answers.length) {
      held.push(res); // the blocking query waits: nothing changes any more
      return;
    }
    res.setHeader("content-type", "application/json");
    res.setHeader("x-consul-index", String(index + 1));
    res.end(JSON.stringify(answers[index]));
  });
  server.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const log = recordingLog();
  const w = new ConsulWatcher({
    discovery: poolConsulSchema.parse({ service: "web" }),
    agent: consulAgentSchema.parse({ address: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    seed: 1,
    logger: log,
  });
  try {
    w.start();
    // The third query is asked once the second answer has been handled.
    await eventually("the watcher's third (held) query", () => (held.length > 0 ? true : undefined), 30_000);
    assert.equal(queries >= 3, true);
    assert.deepEqual(
      w.members().map((m) => m.id),
      ["web-0"],
    );
    assert.ok(
      log.warns.length <= MAX_WARN_LINES,
      `${log.warns.length} warning lines for two answers of ${BAD} bad entries`,
    );
    const summaries = log.warns.filter((l) => (l.fields as { count?: number }).count === BAD);
    assert.equal(
      summaries.length,
      2,
      `one summary per change: ${JSON.stringify(log.warns.map((l) => l.msg))}`,
    );
    assert.match(summaries[1].msg, /: 1000 \(the first 3: entry 1 \(id "bad-0"\)/);
    assert.ok(log.debugs >= 2 * BAD, `every warning at debug: ${log.debugs}`);
  } finally {
    await w.stop();
    for (const res of held) res.destroy();
    server.closeAllConnections();
    server.close();
  }
});

test(`Kubernetes: ${BAD} endpoints without a pod name, twice, log a bounded number of warning lines`, {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "sg-discovery-warnings-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const d = await KubeApiDouble.create();
  const log = recordingLog();
  const nameless = (n: number) =>
    Array.from({ length: BAD }, (_, i) => ({ pod: "", ip: `10.${n}.${i >> 8}.${i & 255}` }));
  d.putSlice("default", "web-a", "web", [{ pod: "web-0", ip: "10.9.0.1" }, ...nameless(1)]);
  const w = new KubernetesWatcher({
    service: "web",
    namespace: "default",
    port: "http",
    kubeconfig: d.writeKubeconfig(join(dir, "kubeconfig")),
    logger: log,
  });
  try {
    w.start();
    await w.whenSynced();
    d.putSlice("default", "web-b", "web", [{ pod: "web-1", ip: "10.9.0.2" }, ...nameless(2)]);
    await eventually(
      "web-1 from the second slice",
      () => (w.members().some((m) => m.id === "web-1") ? true : undefined),
      30_000,
    );
    assert.ok(
      log.warns.length <= MAX_WARN_LINES,
      `${log.warns.length} warning lines for two changes of ${BAD} bad endpoints`,
    );
    const counts = log.warns.map((l) => (l.fields as { count?: number }).count);
    assert.ok(
      counts.includes(2 * BAD),
      `a summary of all ${2 * BAD}: ${JSON.stringify(log.warns.map((l) => l.msg))}`,
    );
    assert.ok(log.debugs >= 2 * BAD, `every warning at debug: ${log.debugs}`);
  } finally {
    await w.stop();
    await d.close();
  }
});
