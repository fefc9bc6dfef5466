// In-process proxy harness for data-plane tests: echo upstreams, a config parsed by the
// real schema, a RoutingState holder, createDataPlane with recording hooks, and the real
// listener on 127.0.0.1:0. Every test registers close() with t.after.

import { Agent, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { configSchema, type ShardgateConfig, type ShardgateConfigInput } from "../../config/file/schema.js";
import { SILENT_LOG } from "../../config/log-sink.js";
import type { UpstreamErrorKind } from "../../health/outcome-recorder.js";
import { createDataPlane } from "../../proxy/forward/data-plane.js";
import type {
  DataPlane,
  DataPlaneOptions,
  EdgeHooks,
  NotOwnerReason,
  RecordFields,
  RetryKind,
} from "../../proxy/forward/types.js";
import type { TrustedList } from "../../proxy/routing/cidr-match.js";
import { buildRoutingState, createRoutingStateHolder } from "../../proxy/routing/routing-state.js";
import type { MemberInput, RoutingStateHolder } from "../../proxy/routing/types.js";
import { createProxyServer } from "../../proxy/server/proxy-server.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

export interface Recorded {
  ends: RecordFields[];
  retries: Array<{ failed: string; kind: RetryKind; next: string }>;
  upstreamErrors: Array<{ member: string; kind: UpstreamErrorKind }>;
  localSkips: string[];
  notOwner: NotOwnerReason[];
}

export interface Harness {
  upstreams: EchoUpstream[];
  config: ShardgateConfig;
  holder: RoutingStateHolder;
  plane: DataPlane & { upstreamSockets(): { busy: number; idle: number } };
  server: Server;
  port: number;
  rec: Recorded;
  /** Rebuilds the routing state with per-member flags (pool -> member -> flags). */
  setFlags(
    flags: Record<string, Record<string, Pick<MemberInput, "healthy" | "draining" | "breakerOpen">>>,
  ): void;
  close(): Promise<void>;
}

export interface HarnessOptions {
  members?: number;
  /** Builds the config from the upstream addresses. */
  config?: (members: Array<{ id: string; address: string }>) => ShardgateConfigInput;
  options?: DataPlaneOptions;
  listen?: Partial<ShardgateConfig["listen"]["timeouts"]> & { maxHeaderSize?: number };
  /** Per-route edge features (affinity, rate limit, cache), as the app wires them. */
  edge?: EdgeHooks;
  /** listen.proxyProtocol: PROXY headers required, from these peers only. */
  proxyProtocol?: TrustedList;
  /** Called for every connection-level rejection, as the app counts them. */
  onClientError?: (code: string) => void;
}

export function defaultConfig(members: Array<{ id: string; address: string }>): ShardgateConfigInput {
  return {
    pools: { users: { algorithm: "ring", members } },
    routes: [
      { match: { host: "*", pathPrefix: "/" }, pool: "users", key: ["header:x-user-id", "cookie:uid", "ip"] },
    ],
  };
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const upstreams = await startUpstreams(opts.members ?? 3);
  const members = upstreams.map((u) => ({ id: u.id, address: `127.0.0.1:${u.port}` }));
  const config = configSchema.parse((opts.config ?? defaultConfig)(members));
  let version = 1;
  const build = (
    flags?: Map<string, Map<string, Pick<MemberInput, "healthy" | "draining" | "breakerOpen">>>,
  ) => buildRoutingState({ pools: config.pools, routes: config.routes, ringVersion: version++, flags });
  const holder = createRoutingStateHolder(build());
  const rec: Recorded = { ends: [], retries: [], upstreamErrors: [], localSkips: [], notOwner: [] };
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const plane = createDataPlane({
    getState: () => holder.get(),
    logger: silent,
    options: opts.options,
    edge: opts.edge,
    hooks: {
      onNotOwner: (_r, reason) => rec.notOwner.push(reason),
      onRequestEnd: (r) => rec.ends.push(r.toJSON()),
      onRetry: (_r, failed, kind, next) => rec.retries.push({ failed, kind, next }),
      onUpstreamError: (_r, _pool, member, kind) => rec.upstreamErrors.push({ member, kind }),
      onLocalSkip: (_pool, member) => rec.localSkips.push(member),
    },
  });
  const t = { ...config.listen.timeouts, ...opts.listen };
  const server = createProxyServer({
    dataPlane: plane,
    logger: silent,
    listen: {
      timeouts: { request: t.request, headers: t.headers, idle: t.idle, keepAlive: t.keepAlive },
      maxHeaderSize: opts.listen?.maxHeaderSize ?? config.listen.maxHeaderSize,
    },
    proxyProtocol: opts.proxyProtocol === undefined ? undefined : { trusted: opts.proxyProtocol },
    onClientError: opts.onClientError,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    upstreams,
    config,
    holder,
    plane,
    server,
    port,
    rec,
    setFlags(flags) {
      const m = new Map(Object.entries(flags).map(([pool, f]) => [pool, new Map(Object.entries(f))]));
      holder.apply(build(m));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      plane.close();
      await closeAll(upstreams);
    },
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test replies are free-form JSON
  json: () => any;
}

const sharedAgent = new Agent({ keepAlive: false });

/** One request through the proxy with a fresh connection; resolves with the whole reply. */
export function send(
  port: number,
  opts: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    agent?: Agent;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: opts.method ?? "GET",
        path: opts.path ?? "/",
        headers: opts.headers,
        agent: opts.agent ?? sharedAgent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
        });
      },
    );
    req.on("error", reject);
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

/**
 * For tests that build their own listener (TLS, PROXY protocol): `n` echo upstreams (closed at
 * the test's end), the default config over them, and a data plane routing by it.
 */
export async function planeOverUpstreams(
  t: { after(fn: () => unknown): void },
  n: number,
): Promise<{ ups: EchoUpstream[]; config: ShardgateConfig; plane: DataPlane }> {
  const ups = await startUpstreams(n);
  t.after(() => closeAll(ups));
  const config = configSchema.parse(
    defaultConfig(ups.map((u) => ({ id: u.id, address: `127.0.0.1:${u.port}` }))),
  );
  const holder = createRoutingStateHolder(
    buildRoutingState({ pools: config.pools, routes: config.routes, ringVersion: 1 }),
  );
  const plane = createDataPlane({
    getState: () => holder.get(),
    hooks: { onRequestEnd() {} },
    logger: SILENT_LOG,
  });
  return { ups, config, plane };
}
