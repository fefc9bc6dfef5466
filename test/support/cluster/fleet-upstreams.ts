// The fleet's upstreams: real echo servers (test/support/upstreams.ts) registered in Consul
// (the double, or a real agent) under one service, each with a TTL check the test drives:
// passing/critical is Consul's verdict alone, so a member that fails requests (breaker
// scenarios) is not also marked critical by a check probing the same server.
// The Consul service ID is the upstream's id, so an echoed `member` names the ring member.

import { rawPut, registerService } from "../consul/agent-ops.js";
import type { ConsulTarget } from "../consul/target.js";
import { type EchoUpstream, startUpstreams } from "../upstreams.js";

export class FleetUpstreams {
  private constructor(
    readonly target: ConsulTarget,
    readonly service: string,
    readonly upstreams: EchoUpstream[],
  ) {}

  /** Starts `n` upstreams `${prefix}1..n` and registers each as `service`, checks passing. */
  static async start(target: ConsulTarget, service: string, n = 4, prefix = "u"): Promise<FleetUpstreams> {
    const ups = await startUpstreams(n, prefix);
    const f = new FleetUpstreams(target, service, ups);
    try {
      for (const u of ups) {
        await registerService(target, {
          Name: service,
          ID: u.id,
          Address: "127.0.0.1",
          Port: u.port,
          Check: { CheckID: `service:${u.id}`, TTL: "10m", Status: "passing" },
        });
      }
    } catch (err) {
      await f.close();
      throw err;
    }
    return f;
  }

  get ids(): string[] {
    return this.upstreams.map((u) => u.id);
  }

  get(id: string): EchoUpstream {
    const u = this.upstreams.find((x) => x.id === id);
    if (u === undefined) throw new Error(`no upstream ${id} (have ${this.ids.join(", ")})`);
    return u;
  }

  /** Consul marks `id` critical (its TTL check fails). */
  async critical(id: string, note = "e2e"): Promise<void> {
    await this.check(id, "fail", note);
  }

  /** Consul marks `id` passing again. */
  async passing(id: string): Promise<void> {
    await this.check(id, "pass", "");
  }

  private async check(id: string, verb: "pass" | "fail", note: string): Promise<void> {
    const q = note === "" ? "" : `?note=${encodeURIComponent(note)}`;
    const r = await rawPut(this.target, `/v1/agent/check/${verb}/${encodeURIComponent(`service:${id}`)}${q}`);
    if (r.status !== 200) throw new Error(`consul check ${verb} ${id}: ${r.status} ${r.text}`);
  }

  /** The upstream answers its next requests by resetting the connection. */
  failWithReset(id: string): void {
    this.get(id).mode = { kind: "reset" };
  }

  /** The upstream answers its next requests with `status` (503 by default). */
  failWithStatus(id: string, status = 503): void {
    this.get(id).mode = { kind: "status", status };
  }

  /** The upstream echoes normally again. */
  recover(id: string): void {
    this.get(id).mode = { kind: "echo" };
  }

  /** Deregisters (best effort; the double may already be gone) and closes every upstream. */
  async close(): Promise<void> {
    for (const u of this.upstreams)
      await rawPut(
        this.target,
        `/v1/agent/service/deregister/${encodeURIComponent(u.id)}`,
        undefined,
        2000,
      ).catch(() => {});
    await Promise.all(this.upstreams.map((u) => u.close()));
  }
}
