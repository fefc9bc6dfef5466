// The Kubernetes end-to-end setting: the API double serving the EndpointSlices of Service
// shop/web, "pods" that are real echo upstreams sharing one port at different loopback
// addresses (127.0.0.2 ... stand for pod IPs), and a FleetCluster (3 voters + 1 learner) whose
// pool "web" is discovered from that Service.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FleetCluster, type StateView } from "../cluster-launcher.js";
import { KubeApiDouble, type SliceEndpoint } from "../kube-api-double.js";
import { EchoUpstream } from "../upstreams.js";
import { CONDITION_DEADLINE_MS } from "../wait.js";

export const NS = "shop";

export interface Pod {
  name: string;
  ip: string;
  ready: boolean;
  terminating: boolean;
  up: EchoUpstream;
}

/**
 * Admin reads retried on a transport error: a pooled keep-alive connection to an instance that
 * was just restarted on the same port can be handed out as it closes ("socket hang up"). Only
 * the harness's reads are retried; the load under test never is.
 */
export async function retryTransport<T>(read: () => Promise<T>, tries = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await read();
    } catch (err) {
      if (i >= tries || !/socket hang up|ECONNRESET|EPIPE/.test(String(err))) throw err;
    }
  }
}

export class KubePods {
  readonly pods = new Map<string, Pod>();
  /** Upstreams of pods that left (closed at the end, after in-flight requests). */
  readonly retired: EchoUpstream[] = [];
  port = 0;
  cluster: FleetCluster | undefined;
  private constructor(
    readonly api: KubeApiDouble,
    readonly dir: string,
    readonly kubeconfig: string,
  ) {}

  static async create(): Promise<KubePods> {
    const api = await KubeApiDouble.create({ bookmarkIntervalMs: 500 });
    const dir = mkdtempSync(join(tmpdir(), "shardgate-k8s-e2e-"));
    return new KubePods(api, dir, api.writeKubeconfig(join(dir, "kubeconfig")));
  }

  /** A pod's upstream on `ip`, on the port every pod of the Service shares. */
  async startPod(name: string, ip: string, ready = true): Promise<Pod> {
    const up = await new EchoUpstream(name).start(this.port, ip);
    this.port = up.port;
    const pod = { name, ip, ready, terminating: false, up };
    this.pods.set(name, pod);
    return pod;
  }

  /** Publishes the pods as one slice, the way the EndpointSlice controller would. */
  publish(): void {
    const eps: SliceEndpoint[] = [...this.pods.values()].map((p) => ({
      pod: p.name,
      ip: p.ip,
      ready: p.ready && !p.terminating,
      serving: p.ready,
      terminating: p.terminating,
    }));
    this.api.putSlice(NS, "web-abcde", "web", eps, { name: "http", port: this.port });
  }

  /** Starts 3 voters + 1 learner routing pool "web" from Service shop/web; waits for `members`. */
  async startFleet(members: number): Promise<FleetCluster> {
    this.cluster = await FleetCluster.start({
      // No pool uses Consul; the agent section only needs to parse.
      consulAddress: "127.0.0.1:1",
      routingYaml: `pools:
  web:
    algorithm: ring
    discovery: { kubernetes: { service: web, namespace: ${NS}, port: http, kubeconfig: ${JSON.stringify(this.kubeconfig)} } }
routes:
  - pool: web
    key: [header:x-user-id]
    onMissingKey: reject
`,
    });
    // A fresh fleet: its first elections and the leader's first EndpointSlice list can take most
    // of the harness's condition deadline on a loaded machine (30 s ran out at load 15, term 6).
    await this.cluster.waitConverged({
      timeoutMs: CONDITION_DEADLINE_MS,
      accept: (s) => (s.pools.web?.members.length ?? 0) === members,
    });
    return this.cluster;
  }

  /** "pod@ip:port:up|down ..." of pool web in a state, sorted. */
  static view(s: StateView): string {
    return (s.pools.web?.members ?? [])
      .map((m) => `${m.id}@${m.address}:${m.healthy ? "up" : "down"}`)
      .sort()
      .join(" ");
  }

  /** The view every instance should show: each pod as `state(pod)`. */
  want(state: (p: Pod) => string = () => "up"): string {
    return [...this.pods.values()]
      .map((p) => `${p.name}@${p.ip}:${this.port}:${state(p)}`)
      .sort()
      .join(" ");
  }

  /**
   * Routes of `keys` on every live instance: throws unless all answer every key with the same
   * member at one ring version; returns key -> member.
   */
  async agreed(keys: readonly string[], why: (s: string) => string): Promise<Map<string, string | null>> {
    const c = this.cluster as FleetCluster;
    const nodes = c.live();
    const per = await Promise.all(nodes.map((n) => retryTransport(() => c.routes(n, "web", keys))));
    const ref = per[0];
    const versions = new Set(per.flatMap((rs) => rs.map((r) => r.ringVersion)));
    assert.equal(
      versions.size,
      1,
      why(`one ring version on ${nodes.map((n) => n.id)}, saw ${[...versions]}`),
    );
    for (let ni = 0; ni < per.length; ni++)
      for (let i = 0; i < keys.length; i++)
        assert.equal(
          per[ni][i].member,
          ref[i].member,
          why(`${keys[i]} on ${nodes[ni].id} vs ${nodes[0].id}`),
        );
    return new Map(keys.map((key, i) => [key, ref[i].member]));
  }

  /** Stops everything; returns shardgate PIDs that outlived their stop. */
  async close(): Promise<number[]> {
    const left = (await this.cluster?.stop()) ?? [];
    await this.api.close();
    for (const p of this.pods.values()) await p.up.close();
    for (const u of this.retired) await u.close();
    rmSync(this.dir, { recursive: true, force: true });
    return left;
  }
}
