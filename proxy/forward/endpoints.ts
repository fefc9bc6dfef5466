// Upstream endpoints of the members forwarded through http-proxy-3 (members behind TLS, the
// edge path, SHARDGATE_ENGINE=http-proxy): the options object handed to http-proxy-3 for a
// member, built once so a request allocates no options of its own, and one keep-alive
// http.Agent (bounded sockets, LIFO reuse) per upstream address and TLS settings, shared by
// every member entry there, as the undici engine's pools are (undici-pools.ts). An agent per
// member entry gave each of 1,000 members on 4 addresses its own sockets: a cold connect
// (and TLS handshake) for the first request of every member, and again each time one of them
// sat idle past the keep-alive timeout. The agent remembers the last ClientRequest it was
// given, which lets the forwarder get hold of the request http-proxy-3 creates synchronously
// inside web() without a per-request event listener (the take() follows web() with nothing
// in between, so members sharing the agent cannot take each other's request).

import { Agent, type ClientRequest, type ClientRequestArgs } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { Socket as NetSocket, type Socket } from "node:net";
import type { Duplex, Stream } from "node:stream";
import type { ServerOptions } from "http-proxy-3";
import { canonicalJson } from "../../config/state/canonical-json.js";
import { upstreamLookup } from "../net/bounded-lookup.js";
import type { SnapshotMember } from "../routing/types.js";
import { readBeforeWriteError } from "./read-before-write-error.js";
import { upstreamTlsOptions } from "./upstream-tls.js";

// Node's Agent shortens a kept socket's idle time to the upstream's Keep-Alive timeout hint
// less a second (and does not keep it when nothing is left), but reads the hint from the parsed
// headers, where the response path has already cleared Keep-Alive as hop-by-hop
// (headers.ts), and only when timeout= comes first in the value. Seen: after "Keep-Alive:
// timeout=1" the next request went out on the connection the upstream was closing (a POST
// got a 504 or a 502). The hint is read here from the raw headers, which nothing edits.
const KEEP_ALIVE_TIMEOUT = /(?:^|[,;\s])timeout\s*=\s*"?(\d+)/i;
/** Node's own margin before an announced timeout (HTTP_AGENT_KEEP_ALIVE_TIMEOUT_BUFFER). */
const HINT_MARGIN_MS = 1000;

/** The upstream's Keep-Alive timeout hint (ms) in the response the socket just carried, or -1. */
function keepAliveHintMs(socket: Socket): number {
  const raw = (socket as { _httpMessage?: { res?: { rawHeaders?: string[] } } })._httpMessage?.res
    ?.rawHeaders;
  if (raw === undefined) return -1;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length !== 10 || raw[i].toLowerCase() !== "keep-alive") continue;
    const m = KEEP_ALIVE_TIMEOUT.exec(raw[i + 1]);
    if (m !== null) return Number(m[1]) * 1000;
  }
  return -1;
}

// keepSocketAlive is public in Node's Agent (https.Agent inherits it) but not in @types/node.
type KeepSocketAlive = (this: Agent, socket: Socket) => boolean;
const baseKeepSocketAlive = (Agent.prototype as unknown as { keepSocketAlive: KeepSocketAlive })
  .keepSocketAlive;

/** Keeps `socket` only if the upstream's hint leaves time to reuse it, idle no longer than the hint allows. */
function keepSocketAlive(this: Agent, socket: Socket): boolean {
  if (!baseKeepSocketAlive.call(this, socket)) return false;
  const hint = keepAliveHintMs(socket);
  if (hint < 0) return true;
  const ms = hint - HINT_MARGIN_MS;
  if (ms <= 0) return false;
  if (socket.timeout === undefined || socket.timeout === 0 || ms < socket.timeout) socket.setTimeout(ms);
  return true;
}

/** An agent's new connection, its write errors held while it reads (a net.Socket only). */
function holdWriteErrors(socket: Duplex | null | undefined): Duplex | null | undefined {
  return socket instanceof NetSocket ? readBeforeWriteError(socket) : socket;
}

export class CapturingAgent extends Agent {
  last: ClientRequest | null = null;

  /** Node's connection, whose body-write error waits for the response the upstream sent first (read-before-write-error.ts). */
  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    return holdWriteErrors(super.createConnection(options, callback));
  }

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

(CapturingAgent.prototype as unknown as { keepSocketAlive: KeepSocketAlive }).keepSocketAlive =
  keepSocketAlive;

/** The same for members behind TLS (pools.P.tls). */
export class CapturingHttpsAgent extends HttpsAgent {
  last: ClientRequest | null = null;

  /** A TLSSocket (a net.Socket), held the same way: TLS members go through this agent on both engines. */
  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    return holdWriteErrors(super.createConnection(options, callback));
  }

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
(CapturingHttpsAgent.prototype as unknown as { keepSocketAlive: KeepSocketAlive }).keepSocketAlive =
  keepSocketAlive;

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
  /** Shared by the endpoints of every member on the same address with the same TLS settings. */
  readonly agent: CapturingAgent | CapturingHttpsAgent;
  /** The key of that shared agent (upstreamKey). */
  readonly upstream: string;
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

/**
 * Which members may share an agent: the same "host:port" and the same TLS settings (in the
 * canonical form member agent keys carry them, so a reload that keeps them keeps the agent).
 * The TLS servername is the host, which is part of the address.
 */
export function upstreamKey(member: SnapshotMember): string {
  return member.tls === undefined ? member.hostPort : `${member.hostPort}+tls${canonicalJson(member.tls)}`;
}

function isEmpty(byName: NodeJS.ReadOnlyDict<readonly unknown[]>): boolean {
  for (const name in byName) if ((byName[name]?.length ?? 0) > 0) return false;
  return true;
}

interface SharedAgent {
  readonly agent: CapturingAgent | CapturingHttpsAgent;
  /** Endpoints using it; retired with the last one. */
  users: number;
}

export class Endpoints {
  private readonly map = new Map<string, Endpoint>();
  private readonly agents = new Map<string, SharedAgent>();
  private readonly retiring = new Set<ReturnType<typeof setTimeout>>();

  constructor(private readonly settings: EndpointSettings) {}

  get(member: SnapshotMember): Endpoint {
    const found = this.map.get(member.agentKey);
    if (found !== undefined) return found;
    const tls = member.tls;
    const tlsOptions = tls === undefined ? undefined : upstreamTlsOptions(tls, member.address.host);
    const upstream = upstreamKey(member);
    let shared = this.agents.get(upstream);
    if (shared === undefined) {
      const agentOptions = {
        keepAlive: true,
        maxSockets: this.settings.maxSockets,
        maxFreeSockets: Math.min(this.settings.maxSockets, 64),
        timeout: this.settings.idleMs,
        scheduling: "lifo" as const,
        lookup: upstreamLookup.lookup,
      };
      shared = {
        agent:
          tlsOptions === undefined
            ? new CapturingAgent(agentOptions)
            : new CapturingHttpsAgent({ ...agentOptions, ...tlsOptions }),
        users: 0,
      };
      this.agents.set(upstream, shared);
    }
    shared.users++;
    const agent = shared.agent;
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
      upstream,
      // Per member even though the agent is shared: onWebError tells a stale error of an
      // earlier attempt (another member, maybe on the same address) by this object.
      target,
      web: [
        webOptions,
        { ...webOptions, selfHandleResponse: true },
        { ...webOptions, buffer: NO_BODY },
        { ...webOptions, selfHandleResponse: true, buffer: NO_BODY },
      ],
      // Upgraded sockets leave the agent anyway; a fresh connection keeps them out of the pool's count.
      // http-proxy-3 copies no `lookup` into an upgrade's request options, but builds them on
      // top of `ssl` (whatever the protocol): the bounded lookup rides in there, else an
      // upgrade to a hostname member is a getaddrinfo (test/outside/dns-websocket.test.ts).
      // It writes the request's fields into that object: one per endpoint, nothing shared.
      wsOptions:
        tlsOptions === undefined
          ? { target, agent: false, xfwd: false, prependPath: false, ssl: { lookup: upstreamLookup.lookup } }
          : {
              target: { ...target, ...tlsOptions },
              agent: false,
              xfwd: false,
              prependPath: false,
              secure,
              ssl: { lookup: upstreamLookup.lookup },
            },
    };
    this.map.set(member.agentKey, ep);
    return ep;
  }

  /**
   * Retires endpoints whose key is not in `live`. An agent no remaining endpoint uses is
   * retired with them: its idle sockets close now, busy ones after `graceMs`. An agent still
   * used by another member keeps its sockets.
   */
  retain(live: ReadonlySet<string>, graceMs: number): void {
    for (const [key, ep] of this.map) {
      if (live.has(key)) continue;
      this.map.delete(key);
      const shared = this.agents.get(ep.upstream);
      if (shared === undefined || shared.agent !== ep.agent || --shared.users > 0) continue;
      this.agents.delete(ep.upstream);
      for (const list of Object.values(ep.agent.freeSockets)) for (const s of list ?? []) s.destroy();
      // Nothing running or queued (the usual case): destroyed now, so no timer holds the agent
      // (with its closures) for the whole grace once the member is gone.
      if (isEmpty(ep.agent.sockets) && isEmpty(ep.agent.requests)) {
        ep.agent.destroy();
        continue;
      }
      const t = setTimeout(() => {
        this.retiring.delete(t);
        ep.agent.destroy();
      }, graceMs);
      t.unref();
      this.retiring.add(t);
    }
  }

  /** Agents in use (one per upstream address and TLS settings), for tests. */
  agentCount(): number {
    return this.agents.size;
  }

  /** Sockets (busy + idle) across all agents: for leak tests and the admin API. */
  socketCount(): { busy: number; idle: number } {
    let busy = 0;
    let idle = 0;
    for (const { agent } of this.agents.values()) {
      for (const list of Object.values(agent.sockets)) busy += list?.length ?? 0;
      for (const list of Object.values(agent.freeSockets)) idle += list?.length ?? 0;
    }
    return { busy, idle };
  }

  closeAll(): void {
    for (const t of this.retiring) clearTimeout(t);
    this.retiring.clear();
    for (const { agent } of this.agents.values()) agent.destroy();
    this.agents.clear();
    this.map.clear();
  }
}
