// The undici engine for ordinary (non-upgrade) requests, the default (DataPlaneOptions.engine;
// SHARDGATE_ENGINE=http-proxy opts a process out): one attempt is one legacy undici dispatch handler, the only object
// an attempt allocates (it stands where http-proxy-3's ClientRequest stood). Its callbacks
// are methods, not closures; the data plane (UndiciHost) keeps every rule: retries, timeouts,
// breaker outcomes, headers, records. Routes with edge features and upgrades stay on
// http-proxy-3 (the edge hooks read an IncomingMessage).

import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { Dispatcher } from "undici";
import type { ClientShare } from "./client-share.js";
import { kCtx, type RequestContext } from "./request-context.js";

/** An attempt the data plane drives itself rather than through http-proxy-3 (undici, HTTP/2: h2-attempt.ts). */
export interface ForwardAttempt {
  readonly ctx: RequestContext;
  finished: boolean;
  cancel(err: Error): void;
  resume(): void;
}

/** The client's response drained: the current attempt may read on (one shared listener). */
export function onResDrain(this: ServerResponse): void {
  (this as { [kCtx]?: RequestContext })[kCtx]?.undici?.resume();
}

export interface UndiciHost {
  /** The head arrived (undici's raw name/value pairs); false when this attempt's response is not the one answered (retried). */
  undiciHead(attempt: ForwardAttempt, status: number, rawHeaders: Buffer[]): boolean;
  /** The same for an attempt whose head is a header object (HTTP/2 pools: h2-attempt.ts). */
  objectHead(attempt: ForwardAttempt, status: number, headers: IncomingHttpHeaders): boolean;
  undiciError(attempt: ForwardAttempt, err: Error): void;
  undiciSent(attempt: ForwardAttempt): void;
}

/** One upstream attempt driven by undici (legacy handler interface: onConnect ... onComplete). */
export class UndiciAttempt implements Dispatcher.DispatchHandler, ForwardAttempt {
  private abortFn: ((err?: Error) => void) | null = null;
  private cancelled: Error | null = null;
  private resumeFn: (() => void) | null = null;
  /** The client gets this attempt's body (false: a discarded or abandoned response). */
  private relaying = false;
  /** The final status relayed (0 before the head). */
  private status = 0;
  /** The client's share slot this attempt holds (client-share.ts), given back when undici is done with it. */
  private share: ClientShare | null = null;
  private shareAddress = "";
  private sharePeer = "";
  finished = false;

  constructor(
    private readonly host: UndiciHost,
    readonly ctx: RequestContext,
  ) {}

  /** Records the share slot taken for this attempt; undici's last callback gives it back. */
  holdShare(share: ClientShare, address: string, peer: string): void {
    this.share = share;
    this.shareAddress = address;
    this.sharePeer = peer;
  }

  /** Gives the share slot back (idempotent): the member connection is free, or never was taken. */
  releaseShare(): void {
    const share = this.share;
    if (share === null) return;
    this.share = null;
    share.give(this.shareAddress, this.sharePeer);
  }

  /** Aborts the attempt (idempotent); undici then calls onError with `err`. */
  cancel(err: Error): void {
    if (this.finished) return;
    this.relaying = false;
    if (this.abortFn !== null) this.abortFn(err);
    else this.cancelled = err;
  }

  /** The client's response drained: let undici read on. */
  resume(): void {
    const r = this.resumeFn;
    if (r !== null) r();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.cancelled !== null) abort(this.cancelled);
  }

  onRequestSent(): void {
    this.host.undiciSent(this);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: informational, the real head follows
    this.resumeFn = resume;
    this.status = statusCode;
    this.relaying = this.host.undiciHead(this, statusCode, rawHeaders);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (!this.relaying) return true; // drained and dropped so the connection is reused
    const res = this.ctx.res as ServerResponse;
    if (res.destroyed) return true;
    if (res.write(chunk)) return true;
    // Backpressure: undici pauses until resume(); the drain listener is added only when needed.
    if (!this.ctx.drainHooked) {
      this.ctx.drainHooked = true;
      res.on("drain", onResDrain);
    }
    return false;
  }

  onComplete(): void {
    this.finished = true;
    this.releaseShare();
    if (!this.relaying) return;
    const res = this.ctx.res as ServerResponse;
    if (!res.writableEnded && !res.destroyed) res.end();
  }

  onError(err: Error): void {
    // A 304 may carry the Content-Length its 200 would have had (RFC 9110 section 8.6), and a
    // 204 that wrongly carries one has no body all the same: the response is complete at its
    // head. undici 7 counts the body bytes against that length and fails it (the client got
    // an empty reply, the breaker a failure); its connection is closed all the same.
    if (this.relaying && (this.status === 304 || this.status === 204) && isLengthMismatch(err)) {
      this.onComplete();
      return;
    }
    this.finished = true;
    this.relaying = false;
    this.releaseShare();
    this.host.undiciError(this, err);
  }
}

function isLengthMismatch(err: Error): boolean {
  return (err as NodeJS.ErrnoException).code === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH";
}
