// The data plane's public contract: what the composition root passes in (state getter,
// observer hooks, logger, options) and what it gets back (request/upgrade handlers). The
// operations engineer implements DataPlaneHooks for metrics and access logs.
//
// Implementations: `createDataPlane(init: DataPlaneInit): DataPlane` in proxy/forward/data-plane.ts,
// `createProxyServer(init: ProxyServerInit): http.Server | https.Server` in proxy/server/proxy-server.ts.

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { SecureContext } from "node:tls";
import type { ClientHalfClose } from "../../config/file/schema.js";
import type { LogSink } from "../../config/log-sink.js";
import type { UpstreamErrorKind } from "../../health/outcome-recorder.js";
import type { ErrorCode } from "../errors.js";
import type { TrustedList } from "../routing/cidr-match.js";
import type { CompiledRoute, NotOwnerReason, RouteExplanation, RoutingState } from "../routing/types.js";
import type { OverloadGuard } from "../server/overload.js";
import type { OpenSlot } from "./open-requests.js";
import type { RequestContext } from "./request-context.js";

/** Why an attempt is retried: an upstream error, or "gateway" (a 502/503/504 discarded under retry.on gateway-error). */
export type RetryKind = UpstreamErrorKind | "gateway";

/**
 * One request's record. The same object is passed to every hook of a request and is
 * updated in place; hooks must copy what they keep, and must not hold it after
 * onRequestEnd. Fields are set in the constructor, so the shape never changes.
 */
export interface RequestRecord extends OpenSlot {
  readonly method: string;
  /** The request URL as received (path and query). */
  readonly path: string;
  /** Final status sent to the client; 499 if the client went away first, 101 for an upgraded websocket. */
  readonly status: number;
  /** Matched route label, or "" when no route matched. */
  readonly route: string;
  /** Pool name, or "". */
  readonly pool: string;
  /** Id of the member that served (or last failed) the request, or "". */
  readonly member: string;
  /**
   * `member`'s slot in its pool (PoolSnapshot.slots), or -1: hooks index per-member arrays
   * with it instead of looking the id up. A slot may have passed to another member since
   * (the request began on an older snapshot), so a hook checks the id it finds there.
   */
  readonly memberSlot: number;
  /**
   * Wall-clock ms from the request's arrival (its head parsed) to the end of the response (or
   * abort), queuedMs included.
   */
  readonly durationMs: number;
  /**
   * Ms the request waited pipelined behind earlier ones on its connection before it was
   * handled (proxy/server/pipeline-order.ts); 0 for one handled on arrival.
   */
  readonly queuedMs: number;
  readonly requestId: string;
  /** MurmurHash3 of the routing key, or -1 when the request had no key (random policy / no route). Never the raw key. */
  readonly keyHash: number;
  /** Upstream attempts made (0 when the request never reached an upstream). */
  readonly attempts: number;
  /** Ring version of the snapshot used, or -1. */
  readonly ringVersion: number;
  /**
   * Error code from proxy/errors.ts when shardgate answered with an error, else "". Or why an
   * answer whose head was sent stopped short: upstream_reset, client_send_timeout,
   * DOWNSTREAM_DISCONNECTED.
   */
  readonly errorCode: string;
  /** True for websocket upgrades. */
  readonly upgrade: boolean;
  /** Monotonic start time (performance.now()). */
  readonly startedAt: number;
  /**
   * The monotonic reading (performance.now()) durationMs was measured to, or -1 (a record not
   * ended by the data plane): the access line's time comes from it, not from another clock read.
   */
  readonly endedAt: number;
  /**
   * One object of per-request state the tracing hooks hang here (tracing-hooks.ts), null
   * otherwise. An intrusive field rather than a Map keyed by the record: a Map with one set
   * and one delete per request keeps finished requests alive through its retired tables
   * (open-requests.ts says how). Written only by the tracing hooks.
   */
  traceState: object | null;
  /** A plain copy of the fields above (what a logger should serialize). */
  toJSON(): RecordFields;
}

/** A record's errorCode when the client left after its answer's head was sent (the status sent is kept). */
export const DOWNSTREAM_DISCONNECTED = "downstream_disconnected";

export type RecordFields = Omit<
  RequestRecord,
  "toJSON" | "openSlot" | "traceState" | "memberSlot" | "endedAt"
>;

/** Observer the operations engineer implements; every hook is optional and must not throw. */
export interface DataPlaneHooks {
  onRequestStart?(record: RequestRecord): void;
  /**
   * An attempt to `record.member` (number `record.attempts`) is about to be forwarded with
   * `headers` (the request's own, edited in place: e.g. a per-attempt traceparent). Tracing
   * only; absent when tracing is off.
   */
  onAttempt?(record: RequestRecord, headers: IncomingHttpHeaders): void;
  /**
   * A failed attempt is being retried on `nextMember`. `failedStatus` is the discarded
   * upstream status when kind is "gateway" (the breaker counts it), else undefined.
   */
  onRetry?(
    record: RequestRecord,
    failedMember: string,
    kind: RetryKind,
    nextMember: string,
    failedStatus?: number,
  ): void;
  /** An attempt to `member` of `pool` failed before/while receiving a response. */
  onUpstreamError?(record: RequestRecord, pool: string, member: string, kind: UpstreamErrorKind): void;
  /** `member` refused a connection and is skipped locally until the skip window ends. */
  onLocalSkip?(pool: string, member: string, untilMs: number): void;
  /** An attempt failed on this instance's own limit (EMFILE, ENFILE, EADDRNOTAVAIL): no member's failure. */
  onLocalExhausted?(code: string): void;
  /** The first attempt of a keyed request went to a member other than the key's ring owner. */
  onNotOwner?(record: RequestRecord, reason: NotOwnerReason): void;
  onRequestEnd(record: RequestRecord): void;
}

export interface DataPlaneOptions {
  /** Response header naming the chosen member (config headers.memberHeader); absent = off. */
  memberHeader?: string;
  /** Response header carrying the ring version (config headers.ringVersionHeader); absent = off. */
  ringVersionHeader?: string;
  /** How long a member that refused a connection is skipped locally (default 2000 ms). */
  localSkipMs?: number;
  /**
   * Max sockets per upstream address (default 256): the undici Pool and the agent of an address
   * are shared by every member there, so this bounds the server, not a member id.
   */
  maxSocketsPerMember?: number;
  /**
   * Upstream requests one client address may have in flight at once on one member address
   * (both engines, not HTTP/2 members; an open WebSocket counts as one while it lives;
   * listen.maxUpstreamPerClient); past it 503 client_share_exceeded. 0 = off.
   * Default: a quarter of maxSocketsPerMember, at least 8 (proxy/forward/client-share.ts).
   */
  maxUpstreamPerClient?: number;
  /** Idle keep-alive time of an upstream socket; keep it below the upstream's own (default UPSTREAM_IDLE_MS, 4000 ms). */
  upstreamIdleMs?: number;
  /** Resolution of the shared timeout sweep (default 25 ms, clamped to [5, 250]). */
  timerResolutionMs?: number;
  /** Uniform [0, 1) source for the random missing-key policy (seed it in tests). Default Math.random. */
  random?: () => number;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /**
   * Engine of ordinary requests on routes without edge features: "undici" (the default,
   * proxy/forward/undici-attempt.ts) or "http-proxy" (http-proxy-3; SHARDGATE_ENGINE=http-proxy).
   * Upgrades, routes with edge features and pools with upstream TLS always use http-proxy-3.
   */
  engine?: "http-proxy" | "undici";
}

/**
 * The edge features of one route (affinity, rate limit, shared cache; see proxy/edge/),
 * compiled off the request path. Routes without any have none, and the data plane then
 * does nothing more than one null check per request.
 */
export interface EdgeRoute {
  /**
   * Runs once a request is routed, before its first attempt. Must end (now or later) in
   * exactly one of cont.proceed(ctx), cont.fail(ctx, code), or an answer written to ctx.res.
   * May set ctx.preferred (a member index honoured by the first attempt).
   */
  begin(ctx: RequestContext, cont: EdgeContinuation): void;
  /** The head of the upstream response that will be answered arrived; headers may be edited. */
  onResponse(ctx: RequestContext, proxyRes: IncomingMessage): void;
  /**
   * The head of an HTTP/2 upstream's response (pools with protocol h2c/h2), which has no
   * message stream to tap: affinity and rate-limit headers only (the config check refuses a
   * cache on such routes); headers may be edited.
   */
  onHeaders(ctx: RequestContext, headers: IncomingHttpHeaders): void;
}

/** What an EdgeRoute hands a request back to. */
export interface EdgeContinuation {
  proceed(ctx: RequestContext): void;
  fail(ctx: RequestContext, code: ErrorCode): void;
}

/** Finds a route's edge features; called once per request with the state it was routed on. */
export interface EdgeHooks {
  forRoute(state: RoutingState, route: CompiledRoute): EdgeRoute | null;
}

export type { NotOwnerReason } from "../routing/types.js";

export interface DataPlaneInit {
  /** Returns the current state; called once per request (and per retry). Cheap: a field read. */
  getState(): RoutingState;
  hooks: DataPlaneHooks;
  logger: LogSink;
  options?: DataPlaneOptions;
  /** Per-route edge features; absent = none anywhere. */
  edge?: EdgeHooks;
}

export interface DataPlane {
  /** Which engine forwards ordinary requests (upgrades and edge routes always use http-proxy-3). */
  readonly engine: "http-proxy" | "undici";
  /**
   * `queuedMs`: how long the request already waited its turn on its connection (pipeline-order.ts).
   * Returns the request's start on the plane's clock (performance.now unless options.now), -1
   * when it was not taken (so a caller needing the time reads no clock of its own).
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, queuedMs?: number): number;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** GET /admin/route: the member a request with `key` would reach now, with skipped members and reasons. Null if the pool is unknown. */
  explain(pool: string, key: string): RouteExplanation | null;
  /**
   * The listener's request timeout fired on `socket` while a request body was arriving:
   * answers it (408 client_timeout, or 504 when the upstream stopped reading the body) and
   * returns true; false when no request of this plane awaits an answer there.
   */
  clientTimedOut(socket: Duplex): boolean;
  /** listen.timeouts.send cut the answer on `res` (proxy/server/send-timeout.ts): logged as client_send_timeout. */
  clientSendTimedOut?(res: unknown): void;
  /** Requests and websockets currently in flight. */
  inFlight(): number;
  /** Stops the timeout sweep and closes every upstream agent (in-flight sockets are destroyed). */
  close(): void;
}

export interface ProxyServerInit {
  dataPlane: DataPlane;
  logger: LogSink;
  /** Listener settings, as config `listen` (timeouts in ms, maxHeaderSize in bytes). */
  listen: {
    timeouts: { request: number; headers: number; idle: number; keepAlive: number; send?: number };
    maxHeaderSize: number;
    /** Open connections at once (listen.maxConnections); absent = no cap. */
    maxConnections?: number;
    /** A client's FIN with an HTTP/1.1 request in flight (listen.clientHalfClose); absent = "abort". */
    clientHalfClose?: ClientHalfClose;
  };
  /** Called for every connection-level rejection (400/408/431 before a request exists, or "client_gone"). */
  onClientError?: (code: string) => void;
  /** An idle keep-alive connection closed at listen.maxConnections to admit a new one. */
  onIdleReclaimed?: () => void;
  /** PEM cert and key for HTTPS; absent = plain HTTP. */
  tls?: {
    cert: string | Buffer;
    key: string | Buffer;
    /** Per-name certificates (proxy/server/certificate-store.ts). */
    SNICallback?: (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
  };
  /** HTTP/2 next to HTTP/1.1 (proxy/server/h2-listener.ts): absent = on with defaults; false = off. */
  http2?: { maxConcurrentStreams: number } | false;
  /** PROXY protocol on every connection, from these peers only (proxy/server/proxy-protocol-accept.ts). */
  proxyProtocol?: { trusted: TrustedList };
  /** Memory overload protection (proxy/server/overload.ts): absent = none. */
  overload?: { guard: OverloadGuard; onShed: (what: "request" | "connection") => void };
}
