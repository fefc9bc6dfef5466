// Upstream endpoints: one keep-alive http.Agent per member address (bounded sockets, LIFO
// reuse), plus the options object handed to http-proxy-3 for that member, built once so a
// request allocates no options of its own. The agent remembers the last ClientRequest it
// was given, which lets the forwarder get hold of the request http-proxy-3 creates
// synchronously inside web() without a per-request event listener.

import { Agent, type ClientRequest } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { Stream } from "node:stream";
import type { ServerOptions } from "http-proxy-3";
import type { SnapshotMember } from "../routing/types.js";
import { upstreamTlsOptions } from "./upstream-tls.js";

export class CapturingAgent extends Agent {
  last: ClientRequest | null = null;
  /** Takes (and clears) the request most recently handed to this agent. */
  take(): ClientRequest | null {
    const r = this.last;
    this.last = null;
    return r;
  }
}

// addRequest is Node's internal entry point from ClientRequest; it is not in @types/node.
const baseAddRequest = (
  Agent.prototype as unknown as { addRequest: (req: ClientRequest, o: unknown) => void }
).addRequest;
(CapturingAgent.prototype as unknown as { addRequest: (req: ClientRequest, o: unknown) => void }).addRequest =
  function addRequest(this: CapturingAgent, req: ClientRequest, options: unknown): void {
    this.last = req;
    baseAddRequest.call(this, req, options);
  };

/** The same for members behind TLS (pools.P.tls). */
export class CapturingHttpsAgent extends HttpsAgent {
  last: ClientRequest | null = null;
  take(): ClientRequest | null {
    const r = this.last;
    this.last = null;
    return r;
  }
}
(
  CapturingHttpsAgent.prototype as unknown as { addRequest: (req: ClientRequest, o: unknown) => void }
).addRequest = function addRequest(this: CapturingHttpsAgent, req: ClientRequest, options: unknown): void {
  this.last = req;
  baseAddRequest.call(this, req, options);
};

/**
 * Stands in for the body of a request that has none (no Content-Length, no
 * Transfer-Encoding): http-proxy-3 forwards the body with `(options.buffer || req).pipe(proxyReq)`,
 * and for a bodyless request ending the upstream request at once does the same without the
 * pipe's listeners on both streams and their teardown. Stateless, so one object serves all.
 */
const NO_BODY = {
  pipe<T extends { end(): unknown }>(dest: T): T {
    dest.end();
    return dest;
  },
} as unknown as Stream;

/** Index into Endpoint.web. */
export function webOptionsIndex(selfHandled: boolean, hasBody: boolean): number {
  return (selfHandled ? 1 : 0) | (hasBody ? 0 : 2);
}

export interface Endpoint {
  readonly key: string;
  readonly memberId: string;
  readonly agent: CapturingAgent | CapturingHttpsAgent;
  /** The http-proxy-3 target; also identifies the attempt in error callbacks. */
  readonly target: { host: string; port: number; protocol: string };
  /**
   * The http-proxy-3 options for a request, indexed by `webOptionsIndex`: with
   * selfHandleResponse (attempts whose 502/503/504 may be retried) or not, and with the
   * no-body stand-in or not.
   */
  readonly web: readonly ServerOptions[];
  readonly wsOptions: ServerOptions;
}

export interface EndpointSettings {
  maxSockets: number;
  idleMs: number;
}

export class Endpoints {
  private readonly map = new Map<string, Endpoint>();
  private readonly retiring = new Set<ReturnType<typeof setTimeout>>();

  constructor(private readonly settings: EndpointSettings) {}

  get(member: SnapshotMember): Endpoint {
    const found = this.map.get(member.agentKey);
    if (found !== undefined) return found;
    const agentOptions = {
      keepAlive: true,
      maxSockets: this.settings.maxSockets,
      maxFreeSockets: Math.min(this.settings.maxSockets, 64),
      timeout: this.settings.idleMs,
      scheduling: "lifo" as const,
    };
    const tls = member.tls;
    const tlsOptions = tls === undefined ? undefined : upstreamTlsOptions(tls, member.address.host);
    const agent =
      tlsOptions === undefined
        ? new CapturingAgent(agentOptions)
        : new CapturingHttpsAgent({ ...agentOptions, ...tlsOptions });
    const target = {
      host: member.address.host,
      port: member.address.port,
      protocol: tlsOptions === undefined ? "http:" : "https:",
    };
    // toProxy: the path goes upstream exactly as received (resolve() admits only origin-form
    // targets), instead of http-proxy-3 re-parsing it with `new URL` per request, which also
    // normalizes dot segments and escapes a transparent proxy should leave alone.
    // secure: http-proxy-3 sets rejectUnauthorized from it on every request, over the agent's.
    const secure = tlsOptions === undefined || tlsOptions.rejectUnauthorized !== false;
    const webOptions: ServerOptions = {
      target,
      agent,
      xfwd: false,
      prependPath: false,
      toProxy: true,
      secure,
    };
    const ep: Endpoint = {
      key: member.agentKey,
      memberId: member.id,
      agent,
      target,
      web: [
        webOptions,
        { ...webOptions, selfHandleResponse: true },
        { ...webOptions, buffer: NO_BODY },
        { ...webOptions, selfHandleResponse: true, buffer: NO_BODY },
      ],
      // Upgraded sockets leave the agent anyway; a fresh connection keeps them out of the pool's count.
      wsOptions:
        tlsOptions === undefined
          ? { target, agent: false, xfwd: false, prependPath: false }
          : { target: { ...target, ...tlsOptions }, agent: false, xfwd: false, prependPath: false, secure },
    };
    this.map.set(member.agentKey, ep);
    return ep;
  }

  /** Retires endpoints whose key is not in `live`: idle sockets close now, busy ones after `graceMs`. */
  retain(live: ReadonlySet<string>, graceMs: number): void {
    for (const [key, ep] of this.map) {
      if (live.has(key)) continue;
      this.map.delete(key);
      for (const list of Object.values(ep.agent.freeSockets)) for (const s of list ?? []) s.destroy();
      const t = setTimeout(() => {
        this.retiring.delete(t);
        ep.agent.destroy();
      }, graceMs);
      t.unref();
      this.retiring.add(t);
    }
  }

  /** Sockets (busy + idle) across all agents: for leak tests and the admin API. */
  socketCount(): { busy: number; idle: number } {
    let busy = 0;
    let idle = 0;
    for (const ep of this.map.values()) {
      for (const list of Object.values(ep.agent.sockets)) busy += list?.length ?? 0;
      for (const list of Object.values(ep.agent.freeSockets)) idle += list?.length ?? 0;
    }
    return { busy, idle };
  }

  closeAll(): void {
    for (const t of this.retiring) clearTimeout(t);
    this.retiring.clear();
    for (const ep of this.map.values()) ep.agent.destroy();
    this.map.clear();
  }
}
