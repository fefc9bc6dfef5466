// The life cycle both discovery watchers share (Consul health, Kubernetes EndpointSlices): one
// request loop started once, a stop() that interrupts the request in flight and any pause and
// resolves when the loop has exited, and a promise for the first applied answer.

import { EventEmitter } from "node:events";
import type { LookupFunction } from "node:net";
import { CodedError } from "../config/coded-error.js";
import { type LogSink, SILENT_LOG } from "../config/log-sink.js";
import { seededRandom } from "../ring/random.js";
import { InterruptibleSleep } from "./interruptible-sleep.js";
import { TokenBucket } from "./token-bucket.js";

// biome-ignore lint/suspicious/noExplicitAny: mirrors node:events' own EventMap constraint
type EventMap<T> = Record<keyof T, any[]>;

export const WATCHER_ERROR_CODES = [
  /** A pacing knob (burst, backoff) out of range: a caller's bug, the config has none of them. */
  "HEALTH_INVALID_WATCHER_OPTIONS",
  /** discovery.kubernetes.kubeconfig names no file. */
  "HEALTH_KUBECONFIG_MISSING",
  /** The kubeconfig file cannot be loaded or has no current cluster. */
  "HEALTH_KUBECONFIG_INVALID",
  /** No kubeconfig and not in a pod (KUBERNETES_SERVICE_HOST unset). */
  "HEALTH_NOT_IN_CLUSTER",
] as const;

export type WatcherErrorCode = (typeof WATCHER_ERROR_CODES)[number];

/** Why a watcher cannot be built; the membership controller reports it per pool. */
export class WatcherError extends CodedError<WatcherErrorCode> {}

/**
 * Pacing, clocks and logging every watcher takes. The rate itself is not here: Consul's comes
 * from the agent section of the config (`discovery.consul.rateLimit`).
 */
export interface WatchLoopOptions {
  /** Token bucket burst on the requests (default 4). */
  rateBurst?: number;
  /** Error backoff: first delay (default 500 ms) and cap (default 30000 ms). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Seed for the backoff jitter (default 1). */
  seed?: number;
  logger?: LogSink;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /** Wall clock in ms for status timestamps (default Date.now). */
  wallClock?: () => number;
  /**
   * The hostname lookup of the watcher's connections (default: Node's, getaddrinfo on libuv's
   * thread pool). The process passes its bounded lookup (proxy/net/bounded-lookup.ts): a DNS
   * server that hangs for the agent's or API server's name must not hold those threads.
   */
  lookup?: LookupFunction;
  /** Called once per failed request (the discovery error metric). */
  onRequestError?: () => void;
  /** Called when the source made the watcher start over (the discovery resync metric). */
  onResync?: (reason: ResyncReason) => void;
}

/**
 * Why a watcher started over without an error: Consul's index went backwards (reset to 0), a
 * Kubernetes watch answered 410 Gone (re-list), a list's continue token expired (list again).
 */
export type ResyncReason = "index_reset" | "gone" | "expired_continue";
export const RESYNC_REASONS: readonly ResyncReason[] = ["index_reset", "gone", "expired_continue"];

/** What a watcher's loop paces itself with, resolved once from its options. */
export interface Pacing {
  readonly bucket: TokenBucket;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  readonly random: () => number;
  readonly log: LogSink;
  readonly wall: () => number;
}

/** A numeric knob: undefined takes the default; below `min` (or not finite) is a coded error. */
export function knob(what: string, name: string, v: number | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < min) {
    throw new WatcherError(
      "HEALTH_INVALID_WATCHER_OPTIONS",
      `${what}: ${name} must be a number >= ${min}, got ${String(v)}`,
    );
  }
  return v;
}

/** Resolves the pacing knobs both watchers share; `rate` is requests per second (> 0). */
export function pacing(what: string, rate: number, o: WatchLoopOptions): Pacing {
  const baseMs = knob(what, "backoffBaseMs", o.backoffBaseMs, 500, 1);
  return {
    bucket: new TokenBucket(
      knob(what, "rate", rate, 2, 0.001),
      knob(what, "rateBurst", o.rateBurst, 4, 1),
      o.now ?? (() => performance.now()),
    ),
    backoff: { baseMs, maxMs: knob(what, "backoffMaxMs", o.backoffMaxMs, 30_000, baseMs) },
    random: seededRandom(o.seed ?? 1),
    log: o.logger ?? SILENT_LOG,
    wall: o.wallClock ?? Date.now,
  };
}

export abstract class WatchLoop<E extends EventMap<E>> extends EventEmitter<E> {
  protected running = false;
  /** True once one answer has been applied. */
  protected synced = false;
  /** Rate-limit and backoff pauses; stop() cuts them short. */
  protected readonly pause = new InterruptibleSleep();
  private loopDone: Promise<void> | undefined;
  private readonly firstSync: { promise: Promise<void>; resolve: () => void };

  constructor() {
    super();
    let resolve!: () => void;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.firstSync = { promise, resolve };
  }

  /** The request loop; runs while `running`. */
  protected abstract loop(): Promise<void>;
  /** Aborts the request in flight (stop() calls it). */
  protected abstract interrupt(): void;
  /** After the loop has exited on stop(): release what the watcher owns. */
  protected afterStop(): void {}

  /** Starts the loop; idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Resolves after the first answer has been applied (or at once if it already has). */
  whenSynced(): Promise<void> {
    return this.firstSync.promise;
  }

  /** Stops the loop, aborting a request in flight; resolves once the loop has exited. */
  async stop(): Promise<void> {
    if (!this.running) {
      await this.loopDone;
      return;
    }
    this.running = false;
    this.interrupt();
    this.pause.wake();
    await this.loopDone;
    this.afterStop();
  }

  /** Records that an answer was applied; the first one resolves whenSynced(). Returns whether it was the first. */
  protected markSynced(): boolean {
    if (this.synced) return false;
    this.synced = true;
    return true;
  }

  /** Resolves whenSynced(); call after the first answer's events went out. */
  protected resolveFirstSync(): void {
    this.firstSync.resolve();
  }
}
