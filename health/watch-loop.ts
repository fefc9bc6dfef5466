// The life cycle both discovery watchers share (Consul health, Kubernetes EndpointSlices): one
// request loop started once, a stop() that interrupts the request in flight and any pause and
// resolves when the loop has exited, and a promise for the first applied answer.

import { EventEmitter } from "node:events";
import type { HealthLogger } from "./controller/deps.js";
import { InterruptibleSleep } from "./interruptible-sleep.js";

// biome-ignore lint/suspicious/noExplicitAny: mirrors node:events' own EventMap constraint
type EventMap<T> = Record<keyof T, any[]>;

/** Pacing, clocks and logging every watcher takes. */
export interface WatchLoopOptions {
  /** Token bucket on the requests: sustained requests/second (default 2) and burst (default 4). */
  ratePerSec?: number;
  rateBurst?: number;
  /** Error backoff: first delay (default 500 ms) and cap (default 30000 ms). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Seed for the backoff jitter (default 1). */
  seed?: number;
  logger?: HealthLogger;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /** Wall clock in ms for status timestamps (default Date.now). */
  wallClock?: () => number;
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
