// An outside try on memory: a Kubernetes API server (or a proxy in front of it) that answers a
// list with 200 and a body that never ends. Before, the client library read the page whole with
// no limit until the list timeout aborted it: here 256 MiB went into the process (the double's
// own stop), on a fast link gigabytes. Now a page past the watcher's list answer limit (64 MiB by
// default, 4 MiB here) is aborted at once: the peer is hung up on after at most the limit plus
// socket buffers, the failure is logged with its reason, the process stays up, and once the
// server answers properly again the list succeeds and the members are there.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { KubernetesWatcher } from "../../health/kubernetes-watcher.js";
import { KubeApiDouble } from "../support/kube-api-double.js";
import { eventually } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "sg-kube-endless-list-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const LIMIT = 4 * 1024 * 1024;
/** What the kernel and the client's stream buffers may hold past the limit when it is seen. */
const SLACK = 8 * 1024 * 1024;

test("a list answer without end is aborted at the limit; the next good list is applied", {
  timeout: 180_000,
}, async () => {
  const d = await KubeApiDouble.create();
  const kubeconfig = d.writeKubeconfig(join(dir, "kubeconfig"));
  d.putSlice("default", "web-a", "web", [{ pod: "web-0", ip: "10.9.0.1" }]);
  const endless = d.endlessListAnswers(true);
  const w = new KubernetesWatcher({
    service: "web",
    namespace: "default",
    port: "http",
    kubeconfig,
    listAnswerMax: LIMIT,
    listTimeoutMs: 60_000,
    backoffBaseMs: 50,
    backoffMaxMs: 200,
    rateLimit: 20,
  });
  try {
    w.start();
    await eventually(
      "the first endless list answer closed",
      () => (endless[0]?.closed ? true : undefined),
      90_000,
    );
    assert.ok(
      endless[0].written <= LIMIT + SLACK,
      `the list was cut only after ${endless[0].written} bytes (limit ${LIMIT} + slack ${SLACK})`,
    );
    await eventually("the list failure recorded", () => w.status().lastError, 30_000);
    assert.match(w.status().lastError ?? "", /list answer longer than 4194304 bytes/);
    assert.equal(w.status().synced, false);
    d.endlessListAnswers(false);
    await w.whenSynced();
    assert.deepEqual(
      w.members().map((m) => `${m.id}@${m.address}`),
      ["web-0@10.9.0.1"],
    );
    for (const e of endless)
      assert.ok(e.written <= LIMIT + SLACK, `a later endless list took ${e.written} bytes`);
  } finally {
    await w.stop();
    await d.close();
  }
});
