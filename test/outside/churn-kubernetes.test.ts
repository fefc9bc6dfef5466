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
import { after, test } from "node:test";
import { heapAfterGc, heapObjectCounts, INSPECT_ENV, inspectorUrl } from "../support/inspector-heap.js";
import { KubeApiDouble, type SliceEndpoint } from "../support/kube-api-double.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { promtoolCheckMetrics } from "../support/promtool.js";
import { labelValues } from "../support/series-labels.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { EchoUpstream } from "../support/upstreams.js";
import { eventually, scaled } from "../support/wait.js";

const seed = testSeed(20_261_209);
const note = seedNote(seed);
const random = seededRandom(seed);
const TOKEN = "churn-kubernetes-token";
/** Live pods, and restarts per phase: warm-up, measured, twice as much (240 in all). */
const PODS = 8;
const PHASES = [40, 80, 120] as const;
/** Heap growth allowed across the last phase (120 restarts), after GC. */
const HEAP_BOUND_BYTES = 2 * 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "shardgate-churn-kube-"));
const servers: EchoUpstream[] = [];
const kubes: KubeApiDouble[] = [];

after(async () => {
  await stopAll();
  for (const k of kubes) await k.close();
  for (const s of servers) await s.die();
  rmSync(dir, { recursive: true, force: true });
});

function output(sg: RunningShardgate): string {
  return `${sg.proc.output()}\n${note}`;
}

async function adminText(sg: RunningShardgate, path: string): Promise<string> {
  const res = await fetch(`${sg.adminUrl}${path}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(scaled(15_000)),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `${path.slice(0, 60)}: ${text}\n${output(sg)}`);
  return text;
}

/** "id address" of each member of pool app, sorted. */
async function members(sg: RunningShardgate): Promise<string[]> {
  const s = JSON.parse(await adminText(sg, "/admin/state")) as {
    pools: Record<string, { members: Array<{ id: string; address: string }> }>;
  };
  return (s.pools.app?.members ?? []).map((m) => `${m.id} ${m.address}`).sort();
}

/** A key `pod` owns now (from 300 random keys asked at once), or undefined. */
async function keyOf(sg: RunningShardgate, pod: string): Promise<string | undefined> {
  const keys = Array.from({ length: 300 }, () => `k${Math.floor(random() * 1e8)}`);
  const q = keys.map((k) => `key=${encodeURIComponent(k)}`).join("&");
  const answer = JSON.parse(await adminText(sg, `/admin/routes?pool=app&${q}`)) as {
    routes: Array<{ key: string; owner: string }>;
  };
  return answer.routes.find((r) => r.owner === pod)?.key;
}

/** A Deployment's restart names the new pod anew; a StatefulSet's keeps the name (new IP only). */
type Style = "deployment" | "statefulset";

async function churn(style: Style, octet: number): Promise<void> {
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
  const applied = async (): Promise<void> => {
    const want = live.map((u) => `${u.id} ${u.host}:${port}`).sort();
    await eventually(
      `members ${want.join(", ")}`,
      async () => (JSON.stringify(await members(sg)) === JSON.stringify(want) ? true : undefined),
      60_000,
      20,
    ).catch((err: unknown) => assert.fail(`${String(err)}\n${output(sg)}`));
  };
  const serve = async (u: EchoUpstream): Promise<void> => {
    const key = await eventually(`a key owned by ${u.id}`, () => keyOf(sg, u.id), 10_000, 0);
    const res = await fetch(`${sg.httpUrl}/x`, {
      headers: { "x-k": key },
      signal: AbortSignal.timeout(scaled(15_000)),
    });
    const body = (await res.json()) as { member?: string };
    assert.equal(res.status, 200, `${key}\n${output(sg)}`);
    assert.equal(body.member, u.id, `the key's owner served it\n${note}`);
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
  const text = await adminText(sg, "/metrics");
  const lint = await promtoolCheckMetrics(text);
  assert.equal(lint.code, 0, `promtool check metrics: ${lint.out}`);
  const stale = [...labelValues(text, "member")].filter(
    (m) => !current.has(m) && m !== "none" && m !== "removed",
  );
  assert.deepEqual(stale, [], `member series of gone pods (of ${gone.length} restarted)\n${note}`);
  assert.deepEqual(await members(sg), live.map((u) => `${u.id} ${u.host}:${port}`).sort(), note);
  await eventually(
    "no open connection to a gone pod",
    () => (gone.every((u) => u.openConnections() === 0) ? true : undefined),
    30_000,
    50,
  ).catch(() =>
    assert.fail(
      `open connections to gone pods: ${gone
        .filter((u) => u.openConnections() > 0)
        .map((u) => `${u.id}@${u.host}=${u.openConnections()}`)
        .join(" ")}\n${note}`,
    ),
  );
  // Every live pod was served (one Pool each); a gone pod's Pool must not stay.
  const bound = 2 * PODS;
  let held = -1;
  await eventually(
    `fewer than ${bound} Pool objects on the heap`,
    async () => {
      held = (await heapObjectCounts(url, ["Pool"])).Pool;
      return held < bound ? true : undefined;
    },
    30_000,
    1_000,
  ).catch(() => assert.fail(`${held} Pool objects after ${n} pods (${PODS} live; bound ${bound})\n${note}`));
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

test("pods restarted with new names and IPs through the Kubernetes API leave nothing behind (Deployment)", () =>
  churn("deployment", 10));

test("pods restarted under their names with new IPs through the Kubernetes API leave nothing behind (StatefulSet)", () =>
  churn("statefulset", 20));
