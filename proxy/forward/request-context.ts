// The per-request object: it is the RequestRecord the hooks see, the attempt state the
// forwarder and the timeout sweep read, and a node in the sweep's intrusive list. One
// allocation per request; every field is set in the constructor so the shape never changes.

import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { UpstreamErrorKind } from "../../health/outcome-recorder.js";
import type { PoolLive } from "../routing/pool-live.js";
import type { CompiledRoute, PoolSnapshot } from "../routing/types.js";
import type { Endpoint } from "./endpoints.js";
import type { EdgeRoute, RecordFields, RequestRecord } from "./types.js";
import type { ForwardAttempt } from "./undici-attempt.js";

/** Max attempts the schema allows (retry.attempts <= 10). */
export const MAX_ATTEMPTS = 10;

export const kCtx = Symbol("shardgate.ctx");

export class RequestContext implements RequestRecord {
  // RequestRecord
  method: string;
  path: string;
  status = 0;
  route = "";
  pool = "";
  member = "";
  memberSlot = -1;
  durationMs = 0;
  queuedMs = 0;
  requestId: string;
  keyHash = -1;
  attempts = 0;
  ringVersion = -1;
  errorCode = "";
  upgrade: boolean;
  startedAt: number;
  /** The monotonic reading the request ended at (finish()), or -1 while it runs. */
  endedAt = -1;
  /** The metrics observer's in-flight table slot (open-requests.ts), or -1. */
  openSlot = -1;
  /** The tracing hooks' state of this request (tracing-hooks.ts), or null. */
  traceState: object | null = null;

  // Routing
  readonly req: IncomingMessage;
  /** The ServerResponse, or null for an upgrade. */
  readonly res: ServerResponse | null;
  /** The client socket of an upgrade, or null. */
  readonly socket: Duplex | null;
  compiledRoute: CompiledRoute | null = null;
  snapshot: PoolSnapshot | null = null;
  live: PoolLive | null = null;
  /** The hash routed on (the key's hash, or a random point). */
  hash = 0;
  hasBody = false;
  /** Set-Cookie value issued by the cookie missing-key policy, or "". */
  issuedCookie = "";
  /** The routing key as extracted ("" when the request had none). */
  routingKey = "";

  // Edge features (proxy/edge/): null/-1 unless the route has any.
  edge: EdgeRoute | null = null;
  /** Per-request state the route's edge features keep (one object, allocated by them). */
  edgeState: object | null = null;
  /** A member index the first attempt takes instead of the ring's choice (affinity), or -1. */
  preferred = -1;
  /**
   * The request's headers as the upstream gets them when an edge feature already built them
   * (the shared cache's lookup view, headers.ts upstreamHeaderView), or null: the forwarding
   * fields are then copied from it rather than worked out a second time.
   */
  upstreamView: IncomingHttpHeaders | null = null;

  // Current attempt
  triedCount = 0;
  triedFirst = -1;
  /** Allocated on the first retry only. */
  triedRest: Int32Array | null = null;
  memberIndex = -1;
  /** The count epoch under which the current attempt holds an in-flight slot in `live` (PoolLive.acquire), 0 none. */
  heldEpoch = 0;
  /** True while the current attempt holds a half-open probe slot of its member (snapshot.probe). */
  probing = false;
  /** The member address whose client share an upgrade (its tunnel) holds, or "" (data-plane.ts). */
  tunnelShareAddress = "";
  /** The client's key in that share. */
  tunnelSharePeer = "";
  endpoint: Endpoint | null = null;
  proxyReq: ClientRequest | null = null;
  /** The current attempt when the undici engine (or an HTTP/2 pool: h2-attempt.ts) forwards it. */
  undici: ForwardAttempt | null = null;
  /** The response's drain listener is in place (added on the first backpressure of an undici attempt). */
  drainHooked = false;
  attemptStartedAt = 0;
  /**
   * When this attempt's request (body included) was fully handed to the upstream socket; -1
   * while the body is still arriving. The response timeout runs from here (nginx's and
   * Envoy's rule): a slow uploader must not look like a slow member.
   */
  sentAt = -1;
  /** The client was too slow (or left): no outcome of this request is the member's. */
  clientFault = false;
  responseStarted = false;
  /**
   * The HTTP/1.x client connection's bytesWritten when the answer's head was committed, -1 for
   * HTTP/2 or none yet: the connection took none since means the client never got the head.
   */
  clientBytesAtHead = -1;
  /** This attempt's response is written by the data plane (it may be discarded for a gateway-error retry). */
  selfHandled = false;
  /** Set by the timeout sweep before it destroys the upstream request. */
  timedOut: UpstreamErrorKind | null = null;
  done = false;

  // Timeout sweep list
  prev: RequestContext | null = null;
  next: RequestContext | null = null;
  inSweep = false;

  // Edge step list (edge-step-list.ts): waiting on the route's edge features, before any attempt
  edgePrev: RequestContext | null = null;
  edgeNext: RequestContext | null = null;
  inEdgeStep = false;

  constructor(
    req: IncomingMessage,
    res: ServerResponse | null,
    socket: Duplex | null,
    requestId: string,
    startedAt: number,
  ) {
    this.req = req;
    this.res = res;
    this.socket = socket;
    this.method = req.method ?? "";
    this.path = req.url ?? "";
    this.requestId = requestId;
    this.upgrade = res === null;
    this.startedAt = startedAt;
  }

  /** Only the RequestRecord fields, so a logger serializing the record never walks req/res. */
  toJSON(): RecordFields {
    return {
      method: this.method,
      path: this.path,
      status: this.status,
      route: this.route,
      pool: this.pool,
      member: this.member,
      durationMs: this.durationMs,
      queuedMs: this.queuedMs,
      requestId: this.requestId,
      keyHash: this.keyHash,
      attempts: this.attempts,
      ringVersion: this.ringVersion,
      errorCode: this.errorCode,
      upgrade: this.upgrade,
      startedAt: this.startedAt,
    };
  }

  /** Records a tried member; false when the attempt limit is reached. */
  markTried(index: number): boolean {
    if (this.triedCount === 0) this.triedFirst = index;
    else {
      if (this.triedCount >= MAX_ATTEMPTS) return false;
      this.triedRest ??= new Int32Array(MAX_ATTEMPTS - 1);
      this.triedRest[this.triedCount - 1] = index;
    }
    this.triedCount++;
    return true;
  }

  // The TriedSet view chooseMember takes (this object itself).
  get count(): number {
    return this.triedCount;
  }
  get first(): number {
    return this.triedFirst;
  }
  get rest(): Int32Array | null {
    return this.triedRest;
  }
}
