// The data plane: route -> key -> member -> forward with http-proxy-3, with retries on the
// next distinct member, local skips of members refusing connections, upstream timeouts,
// JSON errors, and one RequestRecord per request handed to the observer hooks.
//
// Per-request cost is one RequestContext; every listener is a shared function registered
// once (on the proxy instance) or a shared function using `this` (on req/res/proxyReq), and
// the context is found through a symbol property. Requests go through http-proxy-3's web
// passes called directly with the member's preallocated options (web-passes.ts): its public
// web() only adds a rest-args array, an options spread and target normalization per call.
// http-proxy-3's `stream` pass itself still allocates a few closures per call; that is the
// library's cost, measured in bench/.

import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { createProxyServer as createHttpProxy, type ProxyServer } from "http-proxy-3";
import type { Dispatcher } from "undici";
import { localExhaustionCode } from "../../health/local-exhaustion.js";
import type { UpstreamErrorKind } from "../../health/outcome-recorder.js";
import { hashKey } from "../../ring/hash.js";
import { ERRORS, type ErrorCode, errorBody, NOSNIFF, rawErrorResponse } from "../errors.js";
import { extractKey, redactPathSegments } from "../routing/key-extract.js";
import { chooseMember, explainChoice, notOwnerReason, ownerOfLastChoice } from "../routing/member-choice.js";
import { normalizePath } from "../routing/normalize-path.js";
import { LiveBook } from "../routing/pool-live.js";
import { sameAgentKeys } from "../routing/pool-snapshot.js";
import type { PoolSnapshot, RouteExplanation, RoutingState, SnapshotMember } from "../routing/types.js";
import { lingerAfterAnswer } from "../server/linger-close.js";
import { httpMessageOf } from "../server/node-internals.js";
import { toOriginForm } from "../server/request-target.js";
import { testDurationMs } from "../test-duration.js";
import { bodyReplayable } from "./body-replay.js";
import { ClientShare, defaultClientShare, unsharedConnections } from "./client-share.js";
import { connectionFacts } from "./connection-facts.js";
import { EdgeStepList } from "./edge-step-list.js";
import { Endpoints, webOptionsIndex } from "./endpoints.js";
import { answerGrpcError, isGrpcContentType, parseGrpcTimeout } from "./grpc-status.js";
import { H2Forwarder, h2ProtocolOf } from "./h2-forward.js";
import { isH2Request } from "./h2-request.js";
import { isUnprocessedFailure } from "./h2-sessions.js";
import {
  copyForwardedHeaders,
  deleteResponseHopByHop,
  setForwardedHeaders,
  stripRequestHopByHop,
  stripResponseHopByHop,
} from "./headers.js";
import { newStickyId, stickyCookie } from "./missing-key.js";
import { closesConnection, requestProtocolError } from "./request-checks.js";
import { kCtx, MAX_ATTEMPTS, RequestContext } from "./request-context.js";
import { isAcceptableRequestId, newRequestId } from "./request-id.js";
import { RetryBudget } from "./retry-budget.js";
import { answerServerOptions, isServerOptions, SERVER_OPTIONS } from "./server-options.js";
import { reuseSocketTimer } from "./socket-timer.js";
import { failedOnStaleConnection } from "./stale-connection.js";
import { TimeoutSweep } from "./timeout-sweep.js";
import { BAD_TRANSFER_CODING, codingRelayable, rawCodingRelayable } from "./transfer-coding.js";
import { bindTunnel, closeWhenQuiet } from "./tunnel.js";
import {
  type DataPlane,
  type DataPlaneInit,
  DOWNSTREAM_DISCONNECTED,
  type EdgeContinuation,
  type EdgeHooks,
  type RetryKind,
} from "./types.js";
import { isUnaskedUpgrade, UNASKED_UPGRADE } from "./unasked-upgrade.js";
import { type ForwardAttempt, onResDrain, UndiciAttempt, type UndiciHost } from "./undici-attempt.js";
import { type HeadExtras, hasContentLength, responseHead } from "./undici-head.js";
import { isPlainFieldValue, writeUndiciHead } from "./undici-head-write.js";
import { UndiciPools } from "./undici-pools.js";
import { requestHeaderList } from "./undici-request-head.js";
import { canServeDeclinedUpgrade, isWebSocketUpgrade, responseOnSocket } from "./upgrade-declined.js";
import {
  discardResponse,
  isGatewayError,
  type WebForwarder,
  webForwarder,
  writeProxiedHead,
} from "./web-passes.js";

type WithCtx = { [kCtx]?: RequestContext };
const kPlane = Symbol("shardgate.plane");
type WithPlane = { [kPlane]?: DataPlaneImpl };
/** Set on an HTTP/1 socket whose framing is suspect (closesConnection): nothing more is read from it. */
const kFramingSuspect = Symbol("shardgate.framingSuspect");
type WithSuspect = { [kFramingSuspect]?: boolean };
const EMPTY_HEAD = Buffer.alloc(0);

/**
 * Idle keep-alive time of an upstream connection or session when the options name none. A
 * test waiting for idle ones to close shortens it (SHARDGATE_TEST_UPSTREAM_IDLE_MS,
 * proxy/test-duration.ts).
 */
export const UPSTREAM_IDLE_MS = testDurationMs("UPSTREAM_IDLE_MS", 4000);

const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  // EADDRNOTAVAIL is not here: upstreamFailed answers it (EMFILE, ENFILE too) as this
  // instance's own shortage before the kind is read (health/local-exhaustion.ts).
  "ECONNECT_TIMEOUT",
  "EAI_NONAME",
  "EAI_FAIL",
  "EDNS_TIMEOUT",
]);

/** A member's hostname did not resolve (proxy/net/bounded-lookup.ts): answered `upstream_dns`. */
const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EDNS_TIMEOUT"]);

function isDnsFailure(err: Error | undefined): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && DNS_CODES.has(code);
}

class UpstreamTimeoutError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
// Shared instances: destroy(err) only stores and re-emits them; nobody mutates them.
const CONNECT_TIMEOUT = new UpstreamTimeoutError("ECONNECT_TIMEOUT", "upstream connect timeout");
const RESPONSE_TIMEOUT = new UpstreamTimeoutError("ERESPONSE_TIMEOUT", "upstream response timeout");
const CLIENT_GONE = new UpstreamTimeoutError("ECLIENT_GONE", "request ended before the upstream answered");
const SHUT_DOWN = new UpstreamTimeoutError(
  "ESHUTTING_DOWN",
  "shardgate's drain deadline passed before the upstream answered",
);

/**
 * Refused or unreachable members are skipped locally at once, not after the next health check
 * (a name that does not resolve too: isDnsFailure).
 */
function isRefusal(err: Error | undefined): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENETUNREACH";
}

/** The request's head announces a body (a transfer-coding, or a non-zero Content-Length). */
function announcesBody(req: IncomingMessage): boolean {
  const te = req.headers["transfer-encoding"];
  const cl = req.headers["content-length"];
  return te !== undefined || (cl !== undefined && cl !== "0");
}

function errorKind(err: NodeJS.ErrnoException, ctx: RequestContext): UpstreamErrorKind {
  if (ctx.timedOut !== null) return ctx.timedOut;
  const code = err.code ?? "";
  if (CONNECT_CODES.has(code)) return "connect";
  return "reset";
}

/**
 * An answer that came but is not HTTP/1.1 (its status line, headers or framing; a header
 * section past the parser's limit): retried and counted as a reset, but answered as what it
 * is, so the operator looks at the upstream's answer rather than at its connections.
 */
function isMalformedAnswer(err: Error | undefined): boolean {
  if (err === undefined) return false;
  // undici's parser error (its `code` is often unset); Node's http client sets HPE_* codes.
  if (err.name === "HTTPParserError" || isUnaskedUpgrade(err)) return true;
  const code = (err as NodeJS.ErrnoException).code;
  return (
    code !== undefined &&
    (code.startsWith("HPE_") ||
      code === "UND_ERR_HEADERS_OVERFLOW" ||
      // before any byte was relayed: the head's own lengths disagree (two Content-Lengths)
      code === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH")
  );
}

function retryClassAllowed(on: readonly string[], kind: RetryKind): boolean {
  switch (kind) {
    case "connect":
      return on.includes("connect-failure");
    case "reset":
      return on.includes("reset");
    case "gateway":
      return on.includes("gateway-error");
    default:
      return on.includes("timeout");
  }
}

function errorCodeFor(kind: UpstreamErrorKind): ErrorCode {
  return kind === "connect"
    ? "upstream_connect_failed"
    : kind === "reset"
      ? "upstream_reset"
      : "upstream_timeout";
}

class DataPlaneImpl implements DataPlane, EdgeContinuation, UndiciHost {
  private readonly getState: () => RoutingState;
  private readonly edge: EdgeHooks | null;
  private readonly hooks: DataPlaneInit["hooks"];
  private readonly logger: DataPlaneInit["logger"];
  private readonly memberHeader: string;
  private readonly ringVersionHeader: string;
  private readonly localSkipMs: number;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly proxy: ProxyServer;
  private readonly forwardWeb: WebForwarder;
  private readonly endpoints: Endpoints;
  private readonly useUndici: boolean;
  readonly engine: "http-proxy" | "undici";
  private readonly pools: UndiciPools;
  /** A client address's share of a member address's connections (undici and http-proxy-3 paths); null = off. */
  private readonly share: ClientShare | null;
  /** Sessions and attempts of `protocol: h2c | h2` pools. */
  private readonly h2: H2Forwarder;
  private readonly live = new LiveBook();
  private readonly sweep: TimeoutSweep;
  private readonly edgeSteps = new EdgeStepList();
  /** Filled per undici response head (synchronous use only): no object per response. */
  private readonly headExtras: HeadExtras;
  /** The response head's flat list, refilled per undici response head (read within writeHead, never kept). */
  private readonly headList: string[] = [];
  private lastState: RoutingState | null = null;
  private active = 0;
  private closed = false;
  /**
   * Client sockets of upgrades not yet closed (before and after the 101, and declined offers
   * served as plain requests: upgrade-declined.ts). Node hands an upgraded socket over:
   * neither the HTTP server's connection tracking nor the member agents hold it any more, so
   * close() ends these itself.
   */
  private readonly upgrades = new Set<Duplex>();

  constructor(init: DataPlaneInit) {
    const o = init.options ?? {};
    this.getState = init.getState;
    this.edge = init.edge ?? null;
    this.hooks = init.hooks;
    this.logger = init.logger;
    // Lower-case as Node parses response headers: ownHeaders sets them on a parsed headers
    // object, which an upgrade's answer is written from as it is (a second spelling would be a
    // second line beside the member's own).
    this.memberHeader = (o.memberHeader ?? "").toLowerCase();
    this.ringVersionHeader = (o.ringVersionHeader ?? "").toLowerCase();
    this.localSkipMs = o.localSkipMs ?? 2000;
    this.headExtras = {
      requestId: "",
      memberHeader: this.memberHeader,
      member: "",
      ringVersionHeader: this.ringVersionHeader,
      ringVersion: -1,
      issuedCookie: "",
      connection: "keep-alive",
    };
    this.random = o.random ?? Math.random;
    this.now = o.now ?? (() => performance.now());
    this.endpoints = new Endpoints({
      maxSockets: o.maxSocketsPerMember ?? 256,
      idleMs: o.upstreamIdleMs ?? UPSTREAM_IDLE_MS,
    });
    // undici is the default; SHARDGATE_ENGINE=http-proxy puts a whole process back on
    // http-proxy-3 (the benchmark compares both; the test suite runs its core suites on both).
    this.useUndici = (o.engine ?? process.env.SHARDGATE_ENGINE) !== "http-proxy";
    this.engine = this.useUndici ? "undici" : "http-proxy";
    this.pools = new UndiciPools({
      maxSockets: o.maxSocketsPerMember ?? 256,
      idleMs: o.upstreamIdleMs ?? UPSTREAM_IDLE_MS,
    });
    const perClient = o.maxUpstreamPerClient ?? defaultClientShare(o.maxSocketsPerMember ?? 256);
    this.share =
      perClient > 0 ? new ClientShare(perClient, unsharedConnections(o.maxSocketsPerMember ?? 256)) : null;
    this.h2 = new H2Forwarder(o.upstreamIdleMs ?? UPSTREAM_IDLE_MS, this.now, onResDrain);
    this.sweep = new TimeoutSweep(
      Math.min(250, Math.max(5, o.timerResolutionMs ?? 25)),
      this.now,
      this.onAttemptTimeout,
    );
    this.proxy = createHttpProxy({});
    this.proxy.on("proxyRes", this.onProxyRes);
    this.proxy.on("proxyReqWs", this.onProxyReqWs);
    // Errors arrive through the per-call callback; this listener keeps http-proxy-3 from
    // throwing for the few it emits as events (client socket errors on websockets).
    this.proxy.on("error", this.onProxyEventError);
    this.proxy.on("econnreset", noop);
    this.forwardWeb = webForwarder(this.proxy, this.onWebError);
  }

  // ------------------------------------------------------------------------- requests

  handleRequest(req: IncomingMessage, res: ServerResponse, queuedMs = 0): number {
    // A request Node parsed from the bytes after one refused for its framing (pipelined in the
    // same packet): it may be a smuggled one. Not served, not logged; the connection closes.
    if ((req.socket as WithSuspect | null)?.[kFramingSuspect] === true) {
      req.socket.end();
      return -1;
    }
    // HTTP/1: the connection's idle/keep-alive timer moves to one sweep (no Timeout refreshed per read, write or request).
    if (req.httpVersionMajor === 1 && req.socket !== null) reuseSocketTimer(req.socket);
    const ctx = new RequestContext(req, res, null, this.requestIdOf(req), this.now());
    ctx.queuedMs = queuedMs;
    (res as WithCtx)[kCtx] = ctx;
    (res as WithPlane)[kPlane] = this;
    res.on("close", onResCloseShared);
    this.active++;
    this.callStart(ctx);
    // Known before any refusal below: an answer sent with the body unread closes the connection
    // (fail()), rather than keeping it and letting Node read the whole body, however large.
    ctx.hasBody = announcesBody(req);
    // After the drain deadline (a request pipelined on a connection not closed yet, a stream
    // on an HTTP/2 session): the shutdown is why, not the pool.
    if (this.closed) {
      this.fail(ctx, "shutting_down");
      return ctx.startedAt;
    }
    const code = this.resolve(ctx);
    if (code !== null) {
      if (code === SERVER_OPTIONS) answerServerOptions(ctx);
      else this.fail(ctx, code);
      return ctx.startedAt;
    }
    stripRequestHopByHop(req, false);
    // Edge hook: the route's affinity, rate limit and cache run here and call proceed(). They
    // read the request as the client sent it: this hop's X-Forwarded-For / Forwarded element is
    // added in proceed(), so a rate limit's client address walks the client's hops, not ours.
    if (ctx.edge !== null) {
      this.edgeSteps.add(ctx);
      ctx.edge.begin(ctx, this);
      return ctx.startedAt;
    }
    this.proceed(ctx);
    return ctx.startedAt;
  }

  /** EdgeContinuation: the request goes upstream (its first attempt). */
  proceed(ctx: RequestContext): void {
    this.edgeSteps.remove(ctx);
    if (ctx.done) return;
    // The edge's step (a store lookup) outlasted the drain deadline: close() answered it and
    // dropped every member agent, and an attempt now would make a fresh one and reach the
    // member after it.
    if (this.closed) {
      this.cutByShutdown(ctx);
      return;
    }
    this.prepareHeaders(ctx);
    // Without edge features this runs in the turn the request started: its clock reading will do.
    this.budgetOf(ctx).recordRequest(ctx.edge === null ? ctx.startedAt : this.now());
    this.attempt(ctx);
  }

  /** Route, key and hash; null when the request can be forwarded, else the error to answer. */
  private resolve(ctx: RequestContext): ErrorCode | typeof SERVER_OPTIONS | null {
    const req = ctx.req;
    let raw = req.url ?? "";
    const protocolError = requestProtocolError(req);
    if (protocolError !== null) return protocolError;
    // Not origin-form: an absolute-form target becomes it (its authority the Host), others are refused.
    if (raw.charCodeAt(0) !== 0x2f /* / */) {
      if (isServerOptions(req)) return SERVER_OPTIONS;
      const targetError = toOriginForm(req);
      if (targetError !== null) return targetError;
      raw = req.url as string;
      ctx.path = raw;
    }
    // Routed, keyed, cached, logged and forwarded as one path: the normalised one, so the
    // upstream sees what was routed ("/api/../x" is "/x", not a match for "/api").
    const url = normalizePath(raw);
    if (url !== raw) {
      req.url = url;
      ctx.path = url;
    }
    const state = this.stateNow();
    const route = state.routeTable.match(req.headers.host, url);
    if (route === null) return state.provisional === true ? "no_committed_state" : "no_route";
    ctx.compiledRoute = route;
    ctx.route = route.label;
    // The logged path must not carry a raw key taken from a path segment.
    if (route.keyPlan.pathKeySegments.length > 0)
      ctx.path = redactPathSegments(url, route.keyPlan.pathKeySegments);
    ctx.pool = route.pool;
    const snapshot = state.pools.get(route.pool);
    if (snapshot === undefined) return "unknown_pool";
    ctx.snapshot = snapshot;
    ctx.ringVersion = snapshot.ringVersion;
    // gRPC needs HTTP/2 end to end: refused here rather than sent to an HTTP/1.1 member.
    if (isGrpcContentType(req.headers["content-type"])) {
      if (h2ProtocolOf(snapshot.settings) === null) return "grpc_needs_h2_pool";
      // A malformed deadline is refused as grpc-go's server does (INTERNAL), not forwarded
      // unchanged with no deadline applied here.
      const timeout = req.headers["grpc-timeout"];
      if (timeout !== undefined && parseGrpcTimeout(timeout) < 0) return "bad_grpc_timeout";
    }
    ctx.live = this.live.for(snapshot);
    if (this.edge !== null && ctx.res !== null) ctx.edge = this.edge.forRoute(state, route);
    const key = extractKey(route.keyPlan, req);
    ctx.routingKey = key;
    if (key !== "") {
      ctx.hash = hashKey(key);
      ctx.keyHash = ctx.hash;
      return null;
    }
    switch (route.config.onMissingKey) {
      case "reject":
        return "missing_key";
      case "cookie": {
        const id = newStickyId();
        ctx.routingKey = id;
        ctx.issuedCookie = stickyCookie(route.config.cookie, id);
        ctx.hash = hashKey(id);
        ctx.keyHash = ctx.hash;
        return null;
      }
      default:
        ctx.hash = Math.floor(this.random() * 0x100000000) >>> 0;
        return null;
    }
  }

  private prepareHeaders(ctx: RequestContext): void {
    const req = ctx.req;
    const view = ctx.upstreamView;
    if (view !== null) copyForwardedHeaders(view, req);
    else setForwardedHeaders(req, ctx.compiledRoute?.keyPlan.trusted ?? null);
    req.headers["x-request-id"] = ctx.requestId;
  }

  private requestIdOf(req: IncomingMessage): string {
    const given = req.headers["x-request-id"];
    return typeof given === "string" && isAcceptableRequestId(given) ? given : newRequestId();
  }

  /**
   * Picks the next member (skipping those tried) and forwards; answers 503 when none is left.
   * `chosen`: the member a retry already picked (choosing again could spend a second
   * half-open probe admission on the same decision); -1 = choose now.
   */
  private attempt(ctx: RequestContext, chosen = -1): void {
    // The client is gone already (an HTTP/2 stream reset in the packet that opened it, a
    // socket closed during the edge's lookups): no attempt is made, the log says attempts 0.
    if (ctx.req.destroyed || (ctx.req as { stream?: Duplex }).stream?.destroyed === true) {
      this.finish(ctx, 499);
      return;
    }
    const snapshot = ctx.snapshot;
    const live = ctx.live;
    if (snapshot === null || live === null) {
      this.fail(ctx, "no_available_member");
      return;
    }
    // A retry walks the same snapshot (same successor order) but sees current local skips.
    // The first attempt honours an affinity's member (checked routable by the edge feature).
    const first = ctx.attempts === 0;
    // The first attempt of a request without edge features starts in the turn the request
    // did: one clock reading serves it (each performance.now() is a call into Node).
    const now = first && ctx.edge === null ? ctx.startedAt : this.now();
    const index =
      chosen >= 0
        ? chosen
        : first && ctx.preferred >= 0
          ? ctx.preferred
          : chooseMember(snapshot, ctx.hash, live, now, ctx);
    if (index < 0) {
      this.fail(
        ctx,
        ctx.attempts === 0 ? "no_available_member" : (ctx.errorCode as ErrorCode) || "upstream_error",
      );
      return;
    }
    // Not-owner accounting: a member chooseMember took is the owner when its walk started
    // there (no second table lookup); otherwise (affinity, bounded load, a skip) the full check.
    if (first && ctx.keyHash >= 0 && this.hooks.onNotOwner !== undefined) {
      const owner = chosen < 0 && ctx.preferred < 0 ? ownerOfLastChoice() : -1;
      if (owner !== index) this.checkOwner(ctx, index);
    }
    const member = snapshot.members[index];
    const h2 = ctx.upgrade ? null : h2ProtocolOf(snapshot.settings);
    const undici = !ctx.upgrade && this.useUndici && ctx.edge === null && member.tls === undefined;
    // The http-proxy-3 endpoint (agent and options) exists only for members forwarded that way.
    const ep = undici || h2 !== null ? null : this.endpoints.get(member);
    ctx.markTried(index);
    ctx.attempts++;
    ctx.memberIndex = index;
    ctx.member = member.id;
    ctx.memberSlot = snapshot.slots[index];
    ctx.endpoint = ep;
    ctx.timedOut = null;
    ctx.responseStarted = false;
    ctx.attemptStartedAt = now;
    ctx.sentAt = ctx.hasBody ? -1 : ctx.attemptStartedAt;
    ctx.heldEpoch = live.acquire(member.id, snapshot, index);
    // chooseMember accepts a half-open member only through an admitted probe. A member
    // passUntil lets through is eligible (1), so the mask is read only for one it does not.
    ctx.probing =
      (live.snapshot !== snapshot || live.passUntil[index] === Number.POSITIVE_INFINITY) &&
      snapshot.eligible[index] === 2;
    if (this.hooks.onAttempt !== undefined) this.callAttemptHook(ctx);
    if (h2 !== null) {
      ctx.selfHandled = this.gatewayRetryPossible(ctx, snapshot);
      this.h2.dispatch(this, ctx, member, h2);
    } else if (ep === null) {
      ctx.selfHandled = this.gatewayRetryPossible(ctx, snapshot);
      this.dispatchUndici(ctx, member, snapshot.settings.timeouts.connect);
    } else if (ctx.upgrade) {
      // An open tunnel is a request in flight for as long as it lives: it holds the client's
      // share of the member address (client-share.ts) until it ends, so one client's idle
      // WebSockets cannot take every slot. Its own member connection stays outside the
      // address's socket cap (endpoints.ts wsOptions): that cap queues ordinary requests, and
      // tunnels that live for hours in it would make them wait out their response timeout.
      const share = this.share;
      if (share !== null) {
        const peer = this.shareKeyOf(ctx);
        if (!share.take(member.hostPort, peer)) {
          this.fail(ctx, "client_share_exceeded");
          return;
        }
        ctx.tunnelShareAddress = member.hostPort;
        ctx.tunnelSharePeer = peer;
      }
      this.proxy.ws(ctx.req, ctx.socket, EMPTY_HEAD, ep.wsOptions, this.onWsError);
    } else {
      // The client's share of the member (client-share.ts), as on the undici path.
      const share = this.share;
      const shareKey = share === null ? "" : this.shareKeyOf(ctx);
      if (share !== null && !share.take(member.hostPort, shareKey)) {
        this.fail(ctx, "client_share_exceeded");
        return;
      }
      // A response this attempt may discard (gateway-error retry) is written by onProxyRes.
      ctx.selfHandled = this.gatewayRetryPossible(ctx, snapshot);
      this.forwardWeb(
        ctx.req,
        ctx.res as ServerResponse,
        ep.web[webOptionsIndex(ctx.selfHandled, ctx.hasBody)],
      );
      const proxyReq = ep.agent.take();
      // The ClientRequest closes once its response was read to the end or it was destroyed:
      // then the member connection is free (one closure a request, on this path only).
      if (share !== null) {
        if (proxyReq !== null) proxyReq.once("close", () => share.give(member.hostPort, shareKey));
        else share.give(member.hostPort, shareKey);
      }
      if (proxyReq !== null) {
        this.trackProxyReq(ctx, proxyReq);
        if (ctx.sentAt < 0) proxyReq.on("finish", onProxyReqFinish);
        proxyReq.on("upgrade", onUnaskedUpgrade);
      } else if (ctx.sentAt < 0) ctx.sentAt = ctx.attemptStartedAt;
    }
    if (!ctx.done && !ctx.responseStarted) this.sweep.add(ctx);
  }

  /** The client's key in the share (its address; an IPv6 one by its /64), kept per connection. */
  private shareKeyOf(ctx: RequestContext): string {
    return ctx.req.socket === null ? "" : connectionFacts(ctx.req.socket).shareKey;
  }

  /** Forwards the current attempt with undici (ordinary requests on routes without edge features). */
  private dispatchUndici(ctx: RequestContext, member: SnapshotMember, connectMs: number): void {
    const attempt = new UndiciAttempt(this, ctx);
    ctx.undici = attempt;
    const headers = ctx.req.headers;
    // undici frames the body itself and refuses these; Node's listener already sent any 100 Continue.
    if (headers["transfer-encoding"] !== undefined) delete headers["transfer-encoding"];
    if (headers.expect !== undefined) delete headers.expect;
    const share = this.share;
    if (share !== null) {
      const peer = this.shareKeyOf(ctx);
      if (!share.take(member.hostPort, peer)) {
        ctx.undici = null;
        this.fail(ctx, "client_share_exceeded");
        return;
      }
      attempt.holdShare(share, member.hostPort, peer);
    }
    try {
      this.pools.get(member, connectMs).dispatch(
        {
          origin: undefined,
          path: ctx.req.url ?? "/",
          method: ctx.method as "GET",
          headers: requestHeaderList(headers),
          body: ctx.hasBody ? ctx.req : null,
          // Given, so undici's Request does not derive one from each request's Host (a host
          // parse and an IP test, ~0.1 us: bench/head-micro.ts). Only TLS connections read it,
          // and this path forwards to plain-HTTP members only.
          servername: member.address.host,
        } as Dispatcher.DispatchOptions,
        attempt,
      );
    } catch (err) {
      ctx.undici = null;
      attempt.releaseShare();
      this.logger.debug(
        { err: (err as Error).message, requestId: ctx.requestId },
        "undici refused the request",
      );
      this.fail(ctx, "bad_request");
    }
  }

  undiciSent(attempt: ForwardAttempt): void {
    const ctx = attempt.ctx;
    if (ctx.undici === attempt && ctx.sentAt < 0) ctx.sentAt = this.now();
  }

  undiciHead(attempt: ForwardAttempt, status: number, rawHeaders: Buffer[]): boolean {
    const ctx = attempt.ctx;
    if (ctx.done || ctx.undici !== attempt) return false;
    if (!rawCodingRelayable(rawHeaders)) {
      // A bad response (transfer-coding.ts): answered now, then the attempt (and its connection) cut.
      ctx.undici = null;
      this.upstreamFailed(ctx, "reset", BAD_TRANSFER_CODING);
      attempt.cancel(BAD_TRANSFER_CODING);
      return false;
    }
    if (ctx.selfHandled && isGatewayError(status) && this.retryElsewhere(ctx, "gateway", null, status))
      return false;
    this.headCommitted(ctx, status);
    const res = ctx.res as ServerResponse;
    if (res.headersSent) return true;
    const x = this.headExtras;
    x.requestId = ctx.requestId;
    x.member = ctx.member;
    x.ringVersion = ctx.ringVersion;
    x.issuedCookie = ctx.issuedCookie;
    // As http-proxy-3 does: say the client connection's fate, so Node adds no Keep-Alive header.
    x.connection =
      ctx.req.httpVersionMajor !== 1
        ? ""
        : clientConnection(
            ctx.req,
            res,
            ctx.req.httpVersionMinor !== 0 || hasContentLength(rawHeaders),
            status,
          );
    // Upstream lines were checked by undici's parser, ours where they are made; an issued cookie
    // and a member id (discovery may name members) are left to Node's checks.
    writeUndiciHead(
      res,
      status,
      responseHead(rawHeaders, x, this.headList),
      x.issuedCookie === "" && (x.memberHeader === "" || isPlainFieldValue(x.member)),
    );
    return true;
  }

  objectHead(attempt: ForwardAttempt, status: number, headers: IncomingHttpHeaders): boolean {
    const ctx = attempt.ctx;
    if (ctx.done || ctx.undici !== attempt) return false;
    if (ctx.selfHandled && isGatewayError(status) && this.retryElsewhere(ctx, "gateway", null, status))
      return false;
    this.answerHead(ctx, status, headers);
    // HTTP/2 pools: affinity cookie and RateLimit-* headers (edge routes never use undici).
    if (ctx.edge !== null) ctx.edge.onHeaders(ctx, headers);
    const res = ctx.res as ServerResponse;
    if (res.headersSent) return true;
    res.statusCode = status;
    for (const name in headers) {
      const v = headers[name];
      if (v !== undefined && name !== "transfer-encoding") res.setHeader(name, v);
    }
    return true;
  }

  /**
   * An HTTP/2 call that waited out its response timeout behind the member's stream limit, never
   * sent: not the member's failure (no onUpstreamError), and safe to retry on the next member
   * under the pool's retry rules and budget, as a connect failure is, whatever its method (a
   * gRPC POST too) if its body can be sent again; else upstream_stream_limit.
   */
  unsent(attempt: ForwardAttempt): void {
    const ctx = attempt.ctx;
    if (ctx.done || ctx.undici !== attempt) return;
    if (!ctx.responseStarted && this.retryElsewhere(ctx, "connect", null, undefined, true)) return;
    this.fail(ctx, "upstream_stream_limit");
  }

  undiciError(attempt: ForwardAttempt, err: Error): void {
    const ctx = attempt.ctx;
    if (ctx.done || ctx.undici !== attempt || ctx.clientFault) return;
    // Client left: res 'close' ends it (req.socket is null once the message let go of it).
    if (ctx.req.socket?.destroyed === true || ctx.res?.destroyed) return;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "UND_ERR_CONNECT_TIMEOUT" && ctx.timedOut === null) ctx.timedOut = "connect";
    if (ctx.responseStarted) {
      // Cut mid-body: the member's failure; the client must see a broken response, not a hang.
      this.upstreamCut(ctx);
      ctx.res?.destroy();
      return;
    }
    this.upstreamFailed(ctx, errorKind(err as NodeJS.ErrnoException, ctx), err);
  }

  /** Counts a first attempt that did not go to the key's ring owner, with the reason. */
  private checkOwner(ctx: RequestContext, index: number): void {
    const snapshot = ctx.snapshot;
    if (snapshot === null) return;
    const reason = notOwnerReason(snapshot, ctx.hash, index, ctx.preferred === index, ctx.live, this.now());
    if (reason !== null) this.safe(() => this.hooks.onNotOwner?.(ctx, reason));
  }

  /** Whether a 502/503/504 from this attempt could still be retried (checked again on arrival). */
  private gatewayRetryPossible(
    ctx: RequestContext,
    snapshot: NonNullable<RequestContext["snapshot"]>,
  ): boolean {
    const retry = snapshot.settings.retry;
    return (
      ctx.attempts < retry.attempts &&
      retry.on.includes("gateway-error") &&
      snapshot.retryMethods.has(ctx.method) &&
      !(ctx.hasBody && ctx.req.readableDidRead)
    );
  }

  private trackProxyReq(ctx: RequestContext, proxyReq: ClientRequest): void {
    ctx.proxyReq = proxyReq;
    (proxyReq as WithCtx)[kCtx] = ctx;
    (proxyReq as WithPlane)[kPlane] = this;
  }

  /** The current attempt's request body went out in full: the response clock starts now. */
  bodySent(ctx: RequestContext, proxyReq: ClientRequest): void {
    if (ctx.proxyReq === proxyReq && ctx.sentAt < 0) ctx.sentAt = this.now();
  }

  /** listen.timeouts.send cut the answer on `res`: its record says client_send_timeout. */
  clientSendTimedOut(res: unknown): void {
    const ctx = (res as WithCtx | null | undefined)?.[kCtx];
    if (ctx === undefined || ctx.done) return;
    // The client's fault: the upstream request cancelled with it is not held against the member.
    ctx.clientFault = true;
    ctx.errorCode = "client_send_timeout";
  }

  /**
   * The listener's request timeout fired while this socket's request body was still
   * arriving. If the upstream stopped reading it (its socket is full), that is the member's
   * fault: 504. Otherwise the client is too slow: 408 client_timeout, the upstream attempt is
   * dropped and nothing counts against the member. Either way one answer, on a closing
   * connection. False when no request of ours is waiting for an answer on the socket.
   */
  clientTimedOut(socket: Duplex): boolean {
    const ctx = (httpMessageOf(socket) as WithCtx | null)?.[kCtx];
    if (ctx === undefined || ctx.done || ctx.res === null || ctx.res.headersSent || ctx.res.writableEnded)
      return false;
    const u = ctx.undici;
    if (u !== null) {
      // undici pauses the client's body while the upstream socket is full: the member's fault.
      if (!u.finished && !ctx.responseStarted && ctx.req.isPaused()) {
        ctx.timedOut = "timeout";
        this.sweep.remove(ctx);
        ctx.undici = null;
        this.upstreamFailed(ctx, "timeout");
        u.cancel(RESPONSE_TIMEOUT);
        return true;
      }
      ctx.clientFault = true;
      this.sweep.remove(ctx);
      this.releaseAttempt(ctx);
      ctx.undici = null;
      if (!u.finished) u.cancel(CLIENT_GONE);
      this.fail(ctx, "client_timeout");
      return true;
    }
    const pr = ctx.proxyReq;
    if (pr !== null && !pr.destroyed && !ctx.responseStarted && pr.writableNeedDrain) {
      ctx.timedOut = "timeout";
      this.sweep.remove(ctx);
      pr.destroy(RESPONSE_TIMEOUT);
      return true;
    }
    ctx.clientFault = true;
    this.sweep.remove(ctx);
    this.releaseAttempt(ctx);
    if (pr !== null && !pr.destroyed) pr.destroy();
    this.fail(ctx, "client_timeout");
    return true;
  }

  private releaseAttempt(ctx: RequestContext): void {
    if (ctx.heldEpoch !== 0 && ctx.live !== null && ctx.snapshot !== null) {
      ctx.live.release(ctx.member, ctx.snapshot, ctx.memberIndex, ctx.heldEpoch);
    }
    ctx.heldEpoch = 0;
    this.releaseProbe(ctx);
    // An upgrade's share slot: its tunnel ended (finish), or it never opened (fail, a timeout).
    if (ctx.tunnelShareAddress !== "") {
      this.share?.give(ctx.tunnelShareAddress, ctx.tunnelSharePeer);
      ctx.tunnelShareAddress = "";
    }
  }

  /** Gives a half-open probe slot back: the probe's response head arrived, or its attempt ended. */
  releaseProbe(ctx: RequestContext): void {
    if (!ctx.probing) return;
    ctx.probing = false;
    ctx.snapshot?.probe?.release(ctx.memberIndex);
  }

  private readonly onAttemptTimeout = (ctx: RequestContext, kind: "connect" | "timeout"): void => {
    ctx.timedOut = kind;
    this.sweep.remove(ctx);
    const pr = ctx.proxyReq;
    const u = ctx.undici;
    if (u !== null && !u.finished) {
      // Still queued or connected: answer now (a late head is dropped as stale), then abort.
      ctx.undici = null;
      this.upstreamFailed(ctx, kind);
      u.cancel(kind === "connect" ? CONNECT_TIMEOUT : RESPONSE_TIMEOUT);
    } else if (pr !== null && !pr.destroyed) {
      pr.destroy(kind === "connect" ? CONNECT_TIMEOUT : RESPONSE_TIMEOUT);
    } else {
      // Still queued for a socket (or ws not yet dispatched): answer now; a late request is dropped.
      this.upstreamFailed(ctx, kind);
    }
  };

  private readonly onWebError = (err: Error, req: IncomingMessage, res: unknown, target?: unknown): void => {
    const ctx = (res as WithCtx)[kCtx];
    if (ctx === undefined || ctx.done || ctx.clientFault) return;
    // An error from an earlier attempt's request (its listeners stay on req) is stale.
    if (target !== undefined && ctx.endpoint !== null && target !== ctx.endpoint.target) return;
    if (req.socket.destroyed || ctx.res?.destroyed) return; // client left: res 'close' ends it
    // The answer arrived whole and Node's parser then met bytes after it (stray bytes, a 204's
    // body): Node has destroyed that upstream socket (never reused) and reports the error on
    // the request. The complete answer is the client's; its relay goes on.
    if ((ctx.proxyReq as { res?: IncomingMessage } | null)?.res?.complete === true) return;
    this.upstreamFailed(ctx, errorKind(err as NodeJS.ErrnoException, ctx), err);
  };

  /** An attempt failed before the response was committed: local skip, hooks, retry or answer. */
  private upstreamFailed(ctx: RequestContext, kind: UpstreamErrorKind, err?: Error, mayRetry = true): void {
    if (ctx.done) return;
    if (this.closed) {
      this.cutByShutdown(ctx);
      return;
    }
    this.sweep.remove(ctx);
    this.releaseAttempt(ctx);
    const local = localExhaustionCode(err);
    if (local !== null) {
      // This instance's own shortage (descriptors, local ports), not the member's failure: no
      // local skip, no onUpstreamError (breaker, outlier figures); another member may have ports.
      if (this.hooks.onLocalExhausted !== undefined) this.safe(() => this.hooks.onLocalExhausted?.(local));
      ctx.errorCode = "local_resource_exhausted";
      if (mayRetry && !ctx.responseStarted && this.retryElsewhere(ctx, "connect", null)) return;
      this.fail(ctx, "local_resource_exhausted");
      return;
    }
    const snapshot = ctx.snapshot;
    if (snapshot !== null) {
      if (
        kind === "connect" &&
        ctx.live !== null &&
        (ctx.timedOut === "connect" || isRefusal(err) || isDnsFailure(err))
      ) {
        const until = this.now() + this.localSkipMs;
        ctx.live.skip(ctx.member, snapshot, ctx.memberIndex, until);
        if (this.hooks.onLocalSkip !== undefined)
          this.safe(() => this.hooks.onLocalSkip?.(snapshot.name, ctx.member, until));
      }
      if (this.hooks.onUpstreamError !== undefined) {
        this.safe(() => this.hooks.onUpstreamError?.(ctx, snapshot.name, ctx.member, kind));
      }
    }
    // A head the upstream broke (malformed, or a coding the client could not be told about).
    const code =
      err === BAD_TRANSFER_CODING || (kind === "reset" && isMalformedAnswer(err))
        ? "upstream_bad_response"
        : kind === "connect" && isDnsFailure(err)
          ? "upstream_dns"
          : errorCodeFor(kind);
    ctx.errorCode = code;
    const res = ctx.res;
    const committed = ctx.responseStarted || res?.headersSent;
    if (committed) {
      // Bytes already reached the client: never retry, cut the connection so it sees the failure.
      if (res !== null) res.destroy();
      else ctx.socket?.destroy();
      return;
    }
    if (mayRetry && kind === "reset" && this.retryStaleConnection(ctx, err)) return;
    if (mayRetry && this.retryElsewhere(ctx, kind, null, undefined, isUnprocessedFailure(err))) return;
    this.fail(ctx, code);
  }

  /**
   * Ends an attempt cut by this instance's shutdown: answered 503 shutting_down if nothing was
   * sent yet, else its connection is closed; its upstream request is dropped; no local skip,
   * hook or retry, since the member did nothing wrong.
   */
  private cutByShutdown(ctx: RequestContext): void {
    if (ctx.done || ctx.errorCode === "shutting_down") return;
    const u = ctx.undici;
    ctx.undici = null;
    const pr = ctx.proxyReq;
    if (ctx.responseStarted || ctx.res?.headersSent === true) {
      this.sweep.remove(ctx);
      this.releaseAttempt(ctx);
      ctx.errorCode = "shutting_down";
      if (ctx.res !== null) ctx.res.destroy();
      else ctx.socket?.destroy();
    } else this.fail(ctx, "shutting_down");
    if (u !== null && !u.finished) u.cancel(SHUT_DOWN);
    if (pr !== null && !pr.destroyed) pr.destroy();
  }

  /** A kept-alive connection the upstream closed as the request went out: same member, fresh connection (stale-connection.ts). */
  private retryStaleConnection(ctx: RequestContext, err: Error | undefined): boolean {
    const snapshot = ctx.snapshot;
    const index = ctx.memberIndex;
    if (snapshot === null || index < 0 || !failedOnStaleConnection(err, ctx.proxyReq)) return false;
    if (snapshot.eligible[index] !== 1 || !this.mayRetry(ctx, "reset")) return false;
    if (!this.budgetOf(ctx).tryTake(this.now())) return false;
    if (this.hooks.onRetry !== undefined) {
      const member = ctx.member;
      this.safe(() => this.hooks.onRetry?.(ctx, member, "reset", member));
    }
    this.attempt(ctx, index);
    return true;
  }

  /**
   * The retry rules except the budget (retryElsewhere takes it once a next member exists).
   * `unprocessed`: the member never processed the request (h2: refused, or never sent), so any
   * method may go again, with the body an HTTP/2 attempt kept (body-replay.ts).
   */
  private mayRetry(ctx: RequestContext, kind: RetryKind, unprocessed = false): boolean {
    const snapshot = ctx.snapshot;
    if (snapshot === null || ctx.upgrade) return false;
    const retry = snapshot.settings.retry;
    if (ctx.attempts >= retry.attempts || ctx.triedCount >= MAX_ATTEMPTS) return false;
    if (!unprocessed && !snapshot.retryMethods.has(ctx.method)) return false;
    if (!retryClassAllowed(retry.on, kind)) return false;
    // A body cannot be replayed once any of it went to the failed attempt.
    if (!(ctx.hasBody && ctx.req.readableDidRead)) return true;
    return unprocessed && bodyReplayable(ctx.req);
  }

  /**
   * Starts the next attempt if the rules, a next member and then the budget allow (so no
   * budget is spent when no member is left); true when it did. `proxyRes` is the 502/503/504
   * of a self-handled attempt (discarded on retry), or null for a failure without response.
   */
  private retryElsewhere(
    ctx: RequestContext,
    kind: RetryKind,
    proxyRes: IncomingMessage | null,
    status?: number,
    unprocessed = false,
  ): boolean {
    const snapshot = ctx.snapshot;
    if (snapshot === null || ctx.live === null || !this.mayRetry(ctx, kind, unprocessed)) return false;
    const next = chooseMember(snapshot, ctx.hash, ctx.live, this.now(), ctx);
    if (next < 0) return false;
    if (!this.budgetOf(ctx).tryTake(this.now())) {
      // The probe slot chooseMember took for a half-open `next` goes unused.
      if (snapshot.eligible[next] === 2) snapshot.probe?.release(next);
      return false;
    }
    if (proxyRes !== null) discardResponse(proxyRes);
    this.sweep.remove(ctx);
    this.releaseAttempt(ctx);
    if (this.hooks.onRetry !== undefined) {
      const failed = ctx.member;
      const nextId = snapshot.members[next].id;
      this.safe(() => this.hooks.onRetry?.(ctx, failed, kind, nextId, status));
    }
    this.attempt(ctx, next);
    return true;
  }

  /** The pool's retry budget, on its PoolLive (ctx.live is set whenever ctx.snapshot is and a request goes upstream). */
  private budgetOf(ctx: RequestContext): RetryBudget {
    const snapshot = ctx.snapshot as NonNullable<RequestContext["snapshot"]>;
    const live = ctx.live as NonNullable<RequestContext["live"]>;
    let b = live.retryBudget;
    if (b === null) {
      b = new RetryBudget(snapshot.settings.retry.budgetRatio, snapshot.settings.retry.minRetriesPerSecond);
      live.retryBudget = b;
    }
    return b;
  }

  private readonly onProxyRes = (
    proxyRes: IncomingMessage,
    _req: IncomingMessage,
    res: ServerResponse,
  ): void => {
    const ctx = (res as WithCtx)[kCtx];
    const proxyReq = (proxyRes as unknown as { req: ClientRequest }).req;
    if (ctx === undefined || ctx.done || proxyReq !== ctx.proxyReq) {
      // A response to an abandoned attempt: discard it so its socket is not held.
      proxyRes.destroy();
      return;
    }
    if (!codingRelayable(proxyRes.headers["transfer-encoding"])) {
      // A bad response (transfer-coding.ts). Retried only when http-proxy-3 leaves the response
      // to us (it would otherwise relay this one's head once this listener returns); then cut.
      this.upstreamFailed(ctx, "reset", BAD_TRANSFER_CODING, ctx.selfHandled);
      proxyReq.destroy();
      return;
    }
    const status = proxyRes.statusCode ?? 0;
    if (ctx.selfHandled && isGatewayError(status) && this.retryElsewhere(ctx, "gateway", proxyRes, status))
      return;
    this.answerHead(ctx, status, proxyRes.headers);
    // Edge hook: affinity cookie, RateLimit-* headers, cache fill.
    if (ctx.edge !== null) ctx.edge.onResponse(ctx, proxyRes);
    proxyRes.on("close", onProxyResClose);
    if (ctx.selfHandled) writeProxiedHead(ctx.req, ctx.res, proxyRes, ctx.endpoint?.web[1] ?? null);
  };

  /** The head of the response the client gets: bookkeeping and shardgate's response headers. */
  private answerHead(ctx: RequestContext, status: number, headers: IncomingHttpHeaders): void {
    this.headCommitted(ctx, status);
    stripResponseHopByHop(headers);
    // Said here, not left to http-proxy-3: its pass copies the request's Connection header, which
    // stripRequestHopByHop took off, and so answered "keep-alive" to a client that asked to close.
    if (ctx.req.httpVersionMajor === 1) {
      headers.connection = clientConnection(
        ctx.req,
        ctx.res as ServerResponse,
        ctx.req.httpVersionMinor !== 0 || headers["content-length"] !== undefined,
        status,
      );
      // For HTTP/1.0 that pass writes the request's value (or "close") over any: say it there too.
      if (ctx.req.httpVersionMinor === 0) ctx.req.headers.connection = headers.connection;
    }
    this.ownHeaders(ctx, headers);
  }

  /**
   * shardgate's own response headers, on every answer a member gave (a WebSocket's 101 and an
   * upgrade's refusal too): the request id, the member and ring version when configured, and
   * the sticky cookie a missing key was routed by.
   */
  private ownHeaders(ctx: RequestContext, headers: IncomingHttpHeaders): void {
    if (headers["x-request-id"] === undefined) headers["x-request-id"] = ctx.requestId;
    if (this.memberHeader !== "") headers[this.memberHeader] = ctx.member;
    if (this.ringVersionHeader !== "") headers[this.ringVersionHeader] = String(ctx.ringVersion);
    if (ctx.issuedCookie !== "") {
      const prev = headers["set-cookie"];
      headers["set-cookie"] = prev === undefined ? [ctx.issuedCookie] : [...prev, ctx.issuedCookie];
    }
  }

  private readonly onProxyReqWs = (proxyReq: ClientRequest, _req: IncomingMessage, socket: Duplex): void => {
    const ctx = (socket as WithCtx)[kCtx];
    if (ctx === undefined) return;
    this.trackProxyReq(ctx, proxyReq);
    proxyReq.on("upgrade", onWsUpstreamUpgrade);
    proxyReq.on("response", onWsUpstreamResponse);
  };

  private readonly onProxyEventError = (err: Error, _req: IncomingMessage, resOrSocket: unknown): void => {
    const ctx = (resOrSocket as WithCtx | undefined)?.[kCtx];
    this.logger.debug({ err: err.message, requestId: ctx?.requestId }, "proxy socket error");
  };

  /**
   * The member answered an upgrade (its 101, or a refusal http-proxy-3 relays): the attempt's
   * deadlines are over (a tunnel left in the sweep was walked on every tick for as long as it
   * lived), and the answer gets shardgate's own headers.
   */
  upgradeAnswered(ctx: RequestContext, headers: IncomingHttpHeaders): void {
    this.sweep.remove(ctx);
    this.ownHeaders(ctx, headers);
    this.releaseProbe(ctx);
  }

  /** A 101 to a request that offered no upgrade (unasked-upgrade.ts): a bad response. */
  unaskedUpgrade(ctx: RequestContext, proxyReq: ClientRequest): void {
    if (ctx.proxyReq === proxyReq) this.upstreamFailed(ctx, "reset", UNASKED_UPGRADE);
  }

  /**
   * The upstream ended a response mid-body: the member's failure, logged as upstream_reset;
   * after the data plane closed, the shutdown's doing (shutting_down, no hook).
   */
  upstreamCut(ctx: RequestContext): void {
    if (ctx.done || ctx.errorCode === "upstream_reset" || ctx.errorCode === "shutting_down") return;
    // The member's connection was closed by this instance's shutdown: not the member's failure.
    if (this.closed) {
      ctx.errorCode = "shutting_down";
      return;
    }
    ctx.errorCode = "upstream_reset";
    const snapshot = ctx.snapshot;
    if (snapshot !== null && this.hooks.onUpstreamError !== undefined)
      this.safe(() => this.hooks.onUpstreamError?.(ctx, snapshot.name, ctx.member, "reset"));
  }

  /** Bookkeeping when an attempt's response head becomes the client's answer (both engines). */
  private headCommitted(ctx: RequestContext, status: number): void {
    ctx.responseStarted = true;
    ctx.status = status;
    // Node holds a head written after the client's FIN ended the connection: baseline for headLeft.
    if (ctx.req.httpVersionMajor === 1) ctx.clientBytesAtHead = ctx.req.socket?.bytesWritten ?? -1;
    // The client gets this member's answer: an earlier attempt's error is not the request's
    // (the failed member was counted when it failed; this one is counted at the end).
    ctx.errorCode = "";
    this.sweep.remove(ctx);
    this.releaseProbe(ctx);
  }

  /** Answers with shardgate's JSON error (or cuts the connection if the response began). */
  fail(ctx: RequestContext, code: ErrorCode): void {
    if (ctx.done) return;
    // Already answered by the shutdown (close()): an edge step's late outcome (its store
    // failing, say) must neither cut that answer nor rename its error.
    if (this.closed && ctx.errorCode === "shutting_down") return;
    this.sweep.remove(ctx);
    this.releaseAttempt(ctx);
    ctx.errorCode = code;
    const def = ERRORS[code];
    ctx.status = def.status;
    const res = ctx.res;
    if (res === null) {
      const socket = ctx.socket;
      // The client may still be sending (an upgrade's body): linger after the answer, so the
      // close is not an RST that discards it (proxy/server/linger-close.ts).
      if (socket?.writable) {
        socket.write(rawErrorResponse(code, ctx.requestId, this.rawErrorExtras(ctx)));
        lingerAfterAnswer(socket);
      } else socket?.destroy();
      return;
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // A gRPC call gets its error as gRPC status (trailers-only), which its client can read.
    if (isGrpcContentType(ctx.req.headers["content-type"]) && isH2Request(ctx.req)) {
      answerGrpcError(res, code, ctx.requestId, ctx.pool);
      return;
    }
    const body = errorBody(code, ctx.requestId);
    res.statusCode = def.status;
    res.setHeader("content-type", "application/json");
    res.setHeader("x-content-type-options", NOSNIFF);
    res.setHeader("content-length", Buffer.byteLength(body));
    res.setHeader("x-request-id", ctx.requestId);
    if (this.ringVersionHeader !== "" && ctx.ringVersion >= 0) {
      res.setHeader(this.ringVersionHeader, String(ctx.ringVersion));
    }
    if (ctx.issuedCookie !== "") res.setHeader("set-cookie", ctx.issuedCookie);
    // Every 503 is a "not now": tell clients when to come back.
    if (def.status === 503) res.setHeader("retry-after", "1");
    // A request whose body we will not read, or whose framing is suspect (closesConnection):
    // close after answering rather than drain it or read the next request from the same bytes.
    // (HTTP/2 has no Connection header: the stream is reset instead when its body is unread.)
    if (ctx.req.httpVersionMajor === 1) {
      const suspect = closesConnection(code);
      if (suspect || (ctx.hasBody && !ctx.req.complete)) res.setHeader("connection", "close");
      if (suspect && ctx.req.socket !== null) (ctx.req.socket as WithSuspect)[kFramingSuspect] = true;
    }
    res.end(body);
  }

  /**
   * The header lines an upgrade's raw error answer needs to carry what a plain error answer
   * carries beyond rawErrorResponse's own (fail() sets them on a ServerResponse): the ring
   * version, and the sticky cookie the request was routed by under `onMissingKey: cookie`, so
   * a browser whose first request is its WebSocket keeps its id across a failed handshake.
   */
  private rawErrorExtras(ctx: RequestContext): string {
    let extra = "";
    if (this.ringVersionHeader !== "" && ctx.ringVersion >= 0)
      extra += `${this.ringVersionHeader}: ${ctx.ringVersion}\r\n`;
    if (ctx.issuedCookie !== "") extra += `Set-Cookie: ${ctx.issuedCookie}\r\n`;
    return extra;
  }

  /** Ends a request's record exactly once (response finished or client gone). */
  finish(ctx: RequestContext, status: number): void {
    if (ctx.done) return;
    ctx.done = true;
    this.sweep.remove(ctx);
    this.edgeSteps.remove(ctx);
    this.releaseAttempt(ctx);
    // The client left (or was answered) before the upstream finished: drop the upstream request.
    const u = ctx.undici;
    if (u !== null && !u.finished) u.cancel(CLIENT_GONE);
    ctx.status = status;
    // From the request's arrival: a pipelined request's wait for its turn is part of it.
    ctx.endedAt = this.now();
    ctx.durationMs = ctx.endedAt - ctx.startedAt + ctx.queuedMs;
    this.active--;
    try {
      this.hooks.onRequestEnd(ctx);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, "onRequestEnd hook threw");
    }
  }

  // ------------------------------------------------------------------------ upgrades

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Tracked on every path: a declined offer's request is outside the server's connection
    // tracking too, and left to the close of the member pools at the deadline it was answered
    // 502 upstream_reset, counted against its member.
    (socket as WithPlane)[kPlane] = this;
    this.upgrades.add(socket);
    socket.on("close", onUpgradeSocketClose);
    if (!isWebSocketUpgrade(req) && canServeDeclinedUpgrade(req)) {
      this.handleRequest(req, responseOnSocket(req, socket));
      return;
    }
    const ctx = new RequestContext(req, null, socket, this.requestIdOf(req), this.now());
    (socket as WithCtx)[kCtx] = ctx;
    socket.on("close", onClientSocketClose);
    socket.on("end", onClientSocketEnd);
    socket.on("error", noop);
    this.active++;
    this.callStart(ctx);
    // Known before any refusal below: an answer sent with the body unread closes the connection
    // (fail()), rather than keeping it and letting Node read the whole body, however large.
    ctx.hasBody = announcesBody(req);
    if (this.closed) {
      this.fail(ctx, "shutting_down");
      return;
    }
    // Only websocket upgrades are proxied; another offer with a body (which the parser did
    // not frame) gets a clear 400 instead of the silent close http-proxy-3 would give it. A
    // WebSocket handshake has no body (RFC 6455 4.1): one that announces a body is refused
    // too, since its bytes would reach the member as tunnel bytes after a head that declared
    // them as a body (and, chunked, after an empty body Node's client wrote itself).
    let code = isWebSocketUpgrade(req) && !ctx.hasBody ? this.resolve(ctx) : "bad_request";
    if (code === SERVER_OPTIONS) code = "bad_request"; // `OPTIONS *` asks no upgrade
    // An HTTP/2 pool gets no HTTP/1.1 upgrade (it would fail there and count against the member).
    if (code === null && ctx.snapshot !== null && h2ProtocolOf(ctx.snapshot.settings) !== null)
      code = "upgrade_not_supported";
    if (code !== null) {
      this.fail(ctx, code);
      return;
    }
    stripRequestHopByHop(req, true);
    this.prepareHeaders(ctx);
    if (head.length > 0) socket.unshift(head);
    this.attempt(ctx);
  }

  private readonly onWsError = (err: Error, _req: IncomingMessage, socket: unknown): void => {
    const ctx = (socket as WithCtx)[kCtx];
    if (ctx === undefined || ctx.done) return;
    const kind = errorKind(err as NodeJS.ErrnoException, ctx);
    if (ctx.status === 101) {
      this.logger.debug({ err: err.message, requestId: ctx.requestId }, "websocket upstream error");
      return;
    }
    this.upstreamFailed(ctx, kind, err);
  };

  // --------------------------------------------------------------------------- misc

  /**
   * Follows the routing state now (called when one is applied), so a gone member's connection
   * pools, agents and sessions are retired at once, not at the next request (none may come).
   */
  observeState(): void {
    if (!this.closed) this.stateNow();
  }

  private stateNow(): RoutingState {
    const state = this.getState();
    if (state !== this.lastState) this.onStateChange(state);
    return state;
  }

  private onStateChange(state: RoutingState): void {
    const before = this.lastState;
    this.lastState = state;
    this.live.retain(state.pools);
    // Flag-only changes (drain, health, breaker) keep every agent key: nothing to retire, and
    // no pass over every member of every pool (5,000 members made it the slowest step).
    let keysKept = before !== null && before.pools.size === state.pools.size;
    for (const snapshot of state.pools.values()) {
      this.live.for(snapshot);
      const old = keysKept ? before?.pools.get(snapshot.name) : undefined;
      if (keysKept) keysKept = old !== undefined && sameAgentKeys(old, snapshot);
    }
    if (keysKept) return;
    const keys = new Set<string>();
    const addresses = new Set<string>();
    let grace = 0;
    for (const snapshot of state.pools.values()) {
      for (const m of snapshot.members) {
        keys.add(m.agentKey);
        addresses.add(m.hostPort);
      }
      grace = Math.max(grace, snapshot.settings.timeouts.response);
    }
    this.endpoints.retain(keys, grace + 1000);
    this.pools.retain(addresses, grace + 1000);
    this.h2.sessions.retain(keys, grace + 1000);
  }

  private callStart(ctx: RequestContext): void {
    if (this.hooks.onRequestStart === undefined) return;
    try {
      this.hooks.onRequestStart(ctx);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, "onRequestStart hook threw");
    }
  }

  /** The tracing hook of an attempt, without a closure per call (safe() takes one). */
  private callAttemptHook(ctx: RequestContext): void {
    try {
      this.hooks.onAttempt?.(ctx, ctx.req.headers);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, "data-plane hook threw");
    }
  }

  private safe(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, "data-plane hook threw");
    }
  }

  explain(pool: string, key: string): RouteExplanation | null {
    const state = this.stateNow();
    const snapshot = state.pools.get(pool);
    if (snapshot === undefined) return null;
    if (key === "") return explainMissingKey(state, snapshot);
    return explainChoice(snapshot, hashKey(key), this.live.for(snapshot), this.now());
  }

  inFlight(): number {
    return this.active;
  }

  /** Upstream sockets held by the member agents (leak checks). */
  upstreamSockets(): { busy: number; idle: number } {
    const a = this.endpoints.socketCount();
    const b = this.pools.socketCount();
    const c = this.h2.sessions.socketCount();
    return { busy: a.busy + b.busy + c.busy, idle: a.idle + b.idle + c.idle };
  }

  /** An upgrade's client socket closed (onClientSocketClose). */
  upgradeClosed(socket: Duplex): void {
    this.upgrades.delete(socket);
  }

  /** The data plane was closed (shutdown's drain deadline): every cut from now on is ours. */
  isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    // The drain deadline: a request (or upgrade) still waiting for its member's head is
    // answered 503 shutting_down now, before the listener closes its connection, so its client
    // gets an answer rather than a reset; the member connections closed below then fail
    // nothing of the member's (upstreamFailed, upstreamCut and the client's close say
    // shutting_down, and no breaker, outlier or health figure hears of it).
    for (const ctx of this.sweep.takeAll()) this.cutByShutdown(ctx);
    // Likewise a request still in its edge step (waiting on Redis), unless the edge feature
    // answered it already (a 429 or a cache hit on its way out).
    for (const ctx of this.edgeSteps.takeAll())
      if (ctx.res?.headersSent !== true) this.fail(ctx, "shutting_down");
    // The drain deadline cuts WebSockets too: destroying the client side closes the upstream
    // side (tunnel.ts) or drops the upgrade request still waiting for its 101, and writes
    // each one's access line. Without it they lived until the process exit forced them.
    for (const socket of this.upgrades) {
      const ctx = (socket as WithCtx)[kCtx];
      if (ctx !== undefined && !ctx.done && ctx.errorCode === "") ctx.errorCode = "shutting_down";
      socket.destroy();
    }
    this.upgrades.clear();
    this.sweep.close();
    this.endpoints.closeAll();
    this.pools.closeAll();
    this.h2.sessions.closeAll();
  }
}

function noop(): void {}

/** An empty key is a missing key: each route to the pool applies its onMissingKey (resolve()). */
function explainMissingKey(state: RoutingState, snapshot: PoolSnapshot): RouteExplanation {
  const onMissingKey: Array<{ route: string; policy: string }> = [];
  for (const r of state.routeTable.routes)
    if (r.pool === snapshot.name) onMissingKey.push({ route: r.label, policy: r.config.onMissingKey });
  return {
    pool: snapshot.name,
    keyHash: -1,
    owner: null,
    member: null,
    skipped: [],
    ringVersion: snapshot.ringVersion,
    onMissingKey,
    note:
      "an empty key is a missing key: the route's onMissingKey decides (random: a random available member; " +
      "reject: 400 missing_key; cookie: a fresh id, hashed and set as a cookie)",
  };
}

// Shared listeners: `this` is the emitter; the context (and its data plane) hang off it.
function onResCloseShared(this: ServerResponse): void {
  const ctx = (this as WithCtx)[kCtx];
  const plane = (this as WithPlane)[kPlane];
  if (ctx === undefined || plane === undefined) return;
  // Cut by this instance's shutdown (the drain deadline closed the connection): that is why,
  // whatever the close looked like from here (an abort, a reset of the member's side).
  if (!ctx.done && plane.isClosed() && !(this.writableEnded && this.writableFinished))
    ctx.errorCode = "shutting_down";
  // A response cut short (upstream_reset, or client_send_timeout: the client stopped reading)
  // keeps the status the client saw;
  // 499 is only for a client that went away. writableEnded too: an HTTP/2 stream the client
  // reset is closed with its writable side finished although nothing was answered (rapid reset).
  const cut =
    (ctx.errorCode === "upstream_reset" ||
      ctx.errorCode === "client_send_timeout" ||
      ctx.errorCode === "shutting_down") &&
    ctx.responseStarted;
  if (this.writableEnded && this.writableFinished) plane.finish(ctx, this.statusCode);
  else if (cut) plane.finish(ctx, ctx.status);
  else if (this.headersSent && ctx.errorCode === "" && headLeft(ctx)) {
    // Gone after its head was sent (a FIN in clientHalfClose abort mode, a reset, a cancelled
    // stream): the status sent stands and the record says why the body stopped (Envoy's DC
    // flag). 499, nginx's "nothing was sent", said a 200 the client had seen was a 4xx.
    ctx.errorCode = DOWNSTREAM_DISCONNECTED;
    plane.finish(ctx, this.statusCode);
  } else plane.finish(ctx, 499);
}

/**
 * Whether the answer's head reached the client connection. headersSent only says it was
 * written to Node: a client whose FIN (clientHalfClose abort) made Node end the connection
 * first never gets it (Node keeps it unsent), and that client saw nothing: 499, not the
 * member's 200 with downstream_disconnected.
 */
function headLeft(ctx: RequestContext): boolean {
  return ctx.clientBytesAtHead < 0 || (ctx.req.socket?.bytesWritten ?? 0) > ctx.clientBytesAtHead;
}

function onProxyReqFinish(this: ClientRequest): void {
  const ctx = (this as WithCtx)[kCtx];
  const plane = (this as WithPlane)[kPlane];
  if (ctx !== undefined && plane !== undefined) plane.bodySent(ctx, this);
}

function onUnaskedUpgrade(this: ClientRequest, _res: IncomingMessage, socket: Duplex): void {
  socket.destroy();
  const ctx = (this as WithCtx)[kCtx];
  const plane = (this as WithPlane)[kPlane];
  if (ctx !== undefined && plane !== undefined) plane.unaskedUpgrade(ctx, this);
}

function onProxyResClose(this: IncomingMessage): void {
  if (this.complete) return;
  // The upstream cut the response short: the client must see a broken response, not a hang.
  const proxyReq = (this as unknown as { req: ClientRequest }).req;
  const ctx = (proxyReq as WithCtx)[kCtx];
  const plane = (proxyReq as WithPlane)[kPlane];
  if (ctx !== undefined && ctx.res !== null && !ctx.res.writableEnded && !ctx.res.destroyed) {
    plane?.upstreamCut(ctx);
    ctx.res.destroy();
  }
}

/** A socket handed over as an upgrade closed: no longer one for close() to cut. */
function onUpgradeSocketClose(this: Duplex): void {
  (this as WithPlane)[kPlane]?.upgradeClosed(this);
}

function onClientSocketClose(this: Duplex): void {
  const ctx = (this as WithCtx)[kCtx];
  const plane = (this as WithPlane)[kPlane];
  if (ctx === undefined || plane === undefined) return;
  // Gone before the upstream answered the upgrade, or while its refusal was relayed: drop that
  // request too (nothing else would; after a 101 the tunnel closes the member's side).
  const pr = ctx.proxyReq;
  if (ctx.status !== 101 && pr !== null && !pr.destroyed) pr.destroy();
  plane.finish(ctx, ctx.status === 0 ? 499 : ctx.status);
}

/** The client's FIN before its tunnel exists: it is gone (the listener allows half-open sockets). */
function onClientSocketEnd(this: Duplex): void {
  const ctx = (this as WithCtx)[kCtx];
  if (ctx !== undefined && ctx.status !== 101) this.destroy();
}

// Registered in proxyReqWs, so these run before http-proxy-3's own listeners, which copy
// proxyRes.headers to the client: hop-by-hop headers are removed here, on every path.
function onWsUpstreamUpgrade(this: ClientRequest, res: IncomingMessage, upstream: Duplex): void {
  const ctx = (this as WithCtx)[kCtx];
  if (ctx === undefined) return;
  ctx.status = 101;
  ctx.responseStarted = true;
  deleteResponseHopByHop(res.headers, true);
  (this as WithPlane)[kPlane]?.upgradeAnswered(ctx, res.headers);
  if (ctx.socket !== null) bindTunnel(ctx.socket, upstream, ctx.snapshot?.settings.timeouts.tunnelIdle ?? 0);
}

function onWsUpstreamResponse(this: ClientRequest, res: IncomingMessage): void {
  const ctx = (this as WithCtx)[kCtx];
  if (ctx === undefined) return;
  ctx.status = res.statusCode ?? 0;
  ctx.responseStarted = true;
  deleteResponseHopByHop(res.headers, false);
  // http-proxy-3 closes the socket after relaying this answer; its connection-header pass
  // copies the request's value when the response has none, so say so.
  ctx.req.headers.connection = "close";
  (this as WithPlane)[kPlane]?.upgradeAnswered(ctx, res.headers);
  if (ctx.socket !== null) closeWhenQuiet(ctx.socket, ctx.snapshot?.settings.timeouts.tunnelIdle ?? 0);
}

/**
 * The HTTP/1 client connection's fate for the Connection response header. "close" when the client
 * asked for it (RFC 9112 9.6: the server closes after the response) or Node will not keep the
 * socket (res.shouldKeepAlive, from the request's Connection header and the server's state), and
 * when the request's body is not all in; else "keep-alive". A "keep-alive" header written here
 * makes Node keep the socket open whatever the client asked: a client's `Connection: close`
 * then waited for keepAliveTimeout. HTTP/1.0 has no chunked coding: a 1.0 client that asked
 * for keep-alive keeps its connection only when the answer's end is known (`sized`: a
 * Content-Length; or no body at all), else the close ends the body (nginx and HAProxy do the same).
 */
function clientConnection(
  req: IncomingMessage,
  res: ServerResponse,
  sized: boolean,
  status: number,
): "close" | "keep-alive" {
  // A body still arriving when the upstream answers (an early 413/401/200) is not read to the
  // end on a kept connection: closed after the answer, lingering (proxy/server/linger-close.ts).
  if (!res.shouldKeepAlive || !req.complete) return "close";
  return sized || status === 204 || status === 304 || req.method === "HEAD" ? "keep-alive" : "close";
}

/** Creates the data plane; see proxy/forward/types.ts for the contract. */
export function createDataPlane(init: DataPlaneInit): DataPlane & {
  upstreamSockets(): { busy: number; idle: number };
  observeState(): void;
} {
  return new DataPlaneImpl(init);
}
