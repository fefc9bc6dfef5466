// An operator starts shardgate while its discovery source is down (Consul agent not running,
// API server unreachable). README ("Consul discovery", "Kubernetes"): the last view is kept and
// the first failure of a streak is logged as a warning. Found from the outside: nothing was
// logged at all, ever (the watchers were built without the process logger), so the only
// symptom was 503 no_available_member. Real processes; the sources are closed loopback ports.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { writeKubeconfigFor } from "../support/kube-config-file.js";
import { freePorts } from "../support/ports.js";
import { startShardgate, stopAll } from "../support/shardgate-process.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-discovery-down-"));
after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const WAIT_MS = 30_000;

test("Consul down at start: a warning names the service and the error", { timeout: 90_000 }, async () => {
  const [closed] = await freePorts(1);
  const sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
discovery:
  consul: { address: "http://127.0.0.1:${closed}" }
pools:
  users:
    discovery: { consul: { service: users-api } }
routes:
  - { pool: users, key: [header:x-user-id] }
`,
    { waitReady: false },
  );
  const line = await sg.proc.waitForLine(
    "the Consul watch failure warning",
    (l) => l.level === "warn" && typeof l.msg === "string" && l.msg.startsWith("consul watch failed"),
    WAIT_MS,
  );
  assert.equal(line.service, "users-api");
  assert.match(String(line.err), /ECONNREFUSED|connect/i);
  await sg.stop();
});

test("Kubernetes API server down at start: a warning names the service", { timeout: 90_000 }, async () => {
  const [closed] = await freePorts(1);
  const kubeconfig = writeKubeconfigFor(join(dir, "kubeconfig"), {
    name: "down",
    server: `http://127.0.0.1:${closed}`,
  });
  const sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
pools:
  app:
    discovery: { kubernetes: { service: app, namespace: default, port: http, kubeconfig: ${kubeconfig} } }
routes:
  - { pool: app, key: [header:x-user-id] }
`,
    { waitReady: false },
  );
  const line = await sg.proc.waitForLine(
    "the Kubernetes watch failure warning",
    (l) =>
      l.level === "warn" &&
      typeof l.msg === "string" &&
      l.msg.startsWith("kubernetes endpointslice watch failed"),
    WAIT_MS,
  );
  assert.match(JSON.stringify(line), /app/);
  await sg.stop();
});
