// Churn, tried from outside through Kubernetes discovery: pods restarted one at a time, each
// replacement at a new pod IP (another 127.x.y.z address on the slice's one port) under a new
// name (a Deployment's) or its old one (a StatefulSet's: the member id stays, only its address
// changes, and the connection pools are per address), written to the EndpointSlice of the Kubernetes API double
// (list-watch, one resourceVersion, as the API server) hundreds of times, with traffic to every
// new pod while it lives. The replaced pods' servers stay up (terminating pods), so an open
// connection to one would show. After the churn, in a real shardgate process: /metrics names
// only the live pods (promtool parses it), /admin/state lists only them, no gone pod's server
// has a connection from shardgate, the heap after GC (over the inspector) holds about one undici
// Pool per live pod, not per pod that ever lived, and grows by less than a bound across the
// last phase.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ChurnGate } from "../support/churn-gate.js";
import { assertOnlyCurrentMembers, waitFewerOnHeap, waitNoConnections } from "../support/churn-leftovers.js";
import { heapAfterGc, INSPECT_ENV, inspectorUrl } from "../support/inspector-heap.js";
import { KubeApiDouble, type SliceEndpoint } from "../support/kube-api-double.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { startShardgate, stopAll } from "../support/shardgate-process.js";
import { EchoUpstream } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";

const seed = testSeed(20_261_209);
const note = seedNote(seed);
const TOKEN = "churn-kubernetes-token";
/**
 * Live pods, and restarts per phase: warm-up, measured, twice as much (140 in all). The first
 * version restarted 240; a pod's Pool left behind shows on the heap count after any churn, and
 * the growth bound keeps its sensitivity per restart (the 2 MB it allowed over 120).
 */
const PODS = 8;
const PHASES = [20, 40, 80] as const;
/** Heap growth allowed across the last phase (80 restarts), after GC: ~17 KB per restart. */
const HEAP_BOUND_BYTES = PHASES[2] * 17 * 1024;
const dir = mkdtempSync(join(tmpdir(), "shardgate-churn-kube-"));
const servers: EchoUpstream[] = [];
const kubes: KubeApiDouble[] = [];

after(async () => {
  await stopAll();
  for (const k of kubes) await k.close();
  for (const s of servers) await s.die();
  rmSync(dir, { recursive: true, force: true });
});

/** "id address" of each member of pool app, sorted. */
async function members(gate: ChurnGate): Promise<string[]> {
  const s = JSON.parse(await gate.adminText("/admin/state")) as {
    pools: Record<string, { members: Array<{ id: string; address: string }> }>;
  };
  return (s.pools.app?.members ?? []).map((m) => `${m.id} ${m.address}`).sort();
}

/** A Deployment's restart names the new pod anew; a StatefulSet's keeps the name (new IP only). */
type Style = "deployment" | "statefulset";

async function churn(style: Style, octet: number): Promise<void> {
  // Each style draws its keys and restarts from its own stream of the seed: the two run side by side.
  const random = seededRandom(seed);
  const api = await KubeApiDouble.create();
  kubes.push(api);
  const kubeconfig = api.writeKubeconfig(join(dir, `kubeconfig-${style}`));
  let n = 0;
  let port = 0;
  /** A new pod (named `name`, else anew): a real upstream at the next pod IP, on the slice's port. */
  const pod = async (name?: string): Promise<EchoUpstream> => {
    const i = n++;
    const ip = `127.${octet + Math.floor(i / 250)}.0.${1 + (i % 250)}`;
    const u = await new EchoUpstream(name ?? `app-${i}`).start(port, ip);
    port = u.port;
    servers.push(u);
    return u;
  };
  const live: EchoUpstream[] = [];
  for (let i = 0; i < PODS; i++) live.push(await pod());
  const gone: EchoUpstream[] = [];
  const publish = (): void => {
    const endpoints: SliceEndpoint[] = live.map((u) => ({ pod: u.id, ip: u.host }));
    api.putSlice("default", "app-abc12", "app", endpoints, { name: "http", port });
  };
  publish();
  const sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { token: "${TOKEN}" }
log: { level: info, accessLog: false }
# Restarts come one at a time, each waited for: the default 200 ms of collapsing was most of
# the file's time (2 x 240 restarts), and collapsing bursts is not what this file checks.
discovery: { debounce: 20ms }
pools:
  app:
    discovery: { kubernetes: { service: app, namespace: default, port: http, kubeconfig: ${kubeconfig} } }
    balanceFactor: 1.5
    # Retired connection pools get this (+1 s) to finish running requests: longer than the test.
    timeouts: { response: 5m }
routes:
  - { match: { pathPrefix: / }, pool: app, key: [header:x-k] }
`,
    { env: INSPECT_ENV },
  );
  const url = await inspectorUrl(() => sg.proc.stderr);
  const gate = new ChurnGate(sg, TOKEN, note);
  const applied = async (): Promise<void> => {
    const want = live.map((u) => `${u.id} ${u.host}:${port}`).sort();
    await eventually(
      `members ${want.join(", ")}`,
      async () => (JSON.stringify(await members(gate)) === JSON.stringify(want) ? true : undefined),
      60_000,
      20,
    ).catch((err: unknown) => assert.fail(`${String(err)}\n${gate.output()}`));
  };
  const serve = async (u: EchoUpstream): Promise<void> => {
    const key = await eventually(
      `a key owned by ${u.id}`,
      async () => (await gate.keyPerOwner("app", random)).get(u.id),
      10_000,
      0,
    );
    await gate.serve(key, u.id);
  };
  await applied();
  for (const u of live) await serve(u);
  /** One pod restarted: replaced by a new pod at a new IP; the old one's server stays up. */
  const restart = async (): Promise<void> => {
    const k = Math.floor(random() * live.length);
    gone.push(live[k]);
    live[k] = await pod(style === "statefulset" ? live[k].id : undefined);
    publish();
    await applied();
    await serve(live[k]);
  };
  const heaps: number[] = [];
  for (const restarts of PHASES) {
    for (let i = 0; i < restarts; i++) await restart();
    heaps.push(await heapAfterGc(url));
  }

  const current = new Set(live.map((u) => u.id));
  await assertOnlyCurrentMembers(
    await gate.adminText("/metrics"),
    current,
    `member series of gone pods (of ${gone.length} restarted)\n${note}`,
  );
  assert.deepEqual(await members(gate), live.map((u) => `${u.id} ${u.host}:${port}`).sort(), note);
  await waitNoConnections(gone, "pod", (u) => `${u.id}@${u.host}`, note);
  // Every live pod was served (one Pool each); a gone pod's Pool must not stay.
  const bound = 2 * PODS;
  const held = await waitFewerOnHeap(
    url,
    "Pool",
    bound,
    (count) => `${count} Pool objects after ${n} pods (${PODS} live; bound ${bound})\n${note}`,
  );
  const mb = (b: number) => (b / 1024 / 1024).toFixed(2);
  const growth = heaps[2] - heaps[1];
  process.stdout.write(
    `# ${style}: ${held} Pool objects after ${n} pods (${PODS} live); heap after GC ${heaps.map(mb).join(" / ")} MB after ${PHASES.join(" / ")} more restarts; last phase grew ${mb(growth)} MB (bound ${mb(HEAP_BOUND_BYTES)})\n`,
  );
  assert.ok(
    growth < HEAP_BOUND_BYTES,
    `heap grew ${mb(growth)} MB over ${PHASES[2]} restarts (bound ${mb(HEAP_BOUND_BYTES)}); ${heaps.map(mb)}\n${note}`,
  );
  await sg.stop();
}

// The two styles share nothing (each its own API double, pod addresses, and shardgate process, the
// heap measured in that process): they run side by side.
describe("pods restarted through the Kubernetes API leave nothing behind", { concurrency: true }, () => {
  it("with new names and IPs (Deployment)", () => churn("deployment", 10));
  it("under their names with new IPs (StatefulSet)", () => churn("statefulset", 20));
});
