// The EndpointSlice list is paged (limit + continue), against the Kubernetes API double over a
// real socket with the real client: a Service with more slices than a page is read in several
// requests, none carrying more than a page (before: one unbounded answer, however many slices),
// into one view; a continue token that expires between two pages (etcd compacted meanwhile:
// 410 Expired) starts the list over, counted and logged, not an error, and the view ends complete.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { KubernetesWatcher } from "../../health/kubernetes-watcher.js";
import { KubeApiDouble } from "../support/kube-api-double.js";
import { eventually } from "../support/wait.js";

const NS = "default";

async function setup(t: { after(fn: () => unknown): void }, slices: number) {
  const d = await KubeApiDouble.create();
  const dir = mkdtempSync(join(tmpdir(), "sg-kube-paged-"));
  t.after(async () => {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < slices; i++)
    d.putSlice(NS, `web-${i}`, "web", [{ pod: `web-${i}`, ip: `10.9.0.${i + 1}` }]);
  // Another Service's slice in the same namespace: never in this view, never in its pages.
  d.putSlice(NS, "other-0", "other", [{ pod: "other-0", ip: "10.9.1.1" }]);
  const lines: string[] = [];
  const at = (_o: object, msg?: string) => {
    lines.push(msg ?? "");
  };
  const w = new KubernetesWatcher({
    service: "web",
    namespace: NS,
    port: "http",
    kubeconfig: d.writeKubeconfig(join(dir, "kubeconfig")),
    listPageSize: 3,
    backoffBaseMs: 50,
    backoffMaxMs: 400,
    seed: 1,
    logger: { debug: at, info: at, warn: at, error: at },
  });
  t.after(() => w.stop());
  return { d, w, lines };
}

const podIds = (n: number) => Array.from({ length: n }, (_, i) => `web-${i}`).sort();

test("a Service with more slices than a page is listed in pages of at most the page size, into one view", async (t) => {
  const { d, w } = await setup(t, 7);
  w.start();
  await w.whenSynced();
  assert.deepEqual(
    w.members().map((m) => m.id),
    podIds(7),
  );
  assert.ok(d.counts.maxListItems <= 3, `one list answer carried ${d.counts.maxListItems} slices`);
  assert.equal(w.status().listPages, 3);
  assert.equal(d.counts.continues, 2);
  // The watch starts from the list's version: a later slice arrives through it, no re-list.
  d.putSlice(NS, "web-7", "web", [{ pod: "web-7", ip: "10.9.0.8" }]);
  await eventually("web-7 through the watch", () => (w.members().length === 8 ? true : undefined), 15_000);
  assert.equal(w.status().lists, 1);
});

test("a continue token expired between two pages (410) starts the list over; the view is complete", async (t) => {
  const { d, w, lines } = await setup(t, 7);
  d.expireNextContinues(1);
  w.start();
  await w.whenSynced();
  assert.deepEqual(
    w.members().map((m) => m.id),
    podIds(7),
  );
  assert.equal(d.counts.expiredContinues, 1);
  assert.equal(w.status().expiredContinues, 1);
  assert.equal(w.status().lists, 2, "the list started over once");
  assert.equal(w.status().consecutiveErrors, 0, "an expired token is not an error");
  assert.ok(
    lines.some((l) => /continue token expired/.test(l)),
    lines.join("\n"),
  );
});
