// What the leader-side controllers (membership, breaker, health) are given instead of
// knowing about Raft, HTTP or real time: a propose function, a read accessor for the
// committed cluster state, and a clock with timers. Tests drive all three by hand.

import { CodedError, errorText } from "../../config/coded-error.js";
import type { CommandInput } from "../../config/state/commands.js";
import type { ClusterStateData } from "../../config/state/types.js";

/**
 * Submits a command to the Raft leader. Resolves once the command is committed AND applied
 * to the state `getState()` reads; rejects when it was not (not leader any more, timeout,
 * rejected at propose time). The controllers recompute their diffs from `getState()` after
 * it settles, so a rejection followed by a retry never proposes a stale or duplicate change.
 */
export type Propose = (command: CommandInput) => Promise<void>;

/** The committed cluster state as applied on this instance (an immutable value). */
export type GetState = () => ClusterStateData;

export type TimerHandle = unknown;

/** Monotonic time, wall time and one-shot timers, all injectable. */
export interface ControllerClock {
  /** Monotonic ms (decides debounce windows and breaker cool-downs). */
  now(): number;
  /** Wall-clock ms since the epoch (only for `since`/`until` stamps in commands). */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** performance.now, Date.now and Node's timers (unref'd: controllers never keep a process alive). */
export const SYSTEM_CLOCK: ControllerClock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export type ControllerErrorCode =
  | "HEALTH_INVALID_CONTROLLER_OPTIONS"
  | "HEALTH_UNKNOWN_POOL"
  | "HEALTH_UNKNOWN_MEMBER"
  | "HEALTH_BREAKER_DISABLED"
  | "HEALTH_NOT_RUNNING"
  | "HEALTH_INVALID_BATCH";

export class ControllerError extends CodedError<ControllerErrorCode> {}

/** The options every controller takes; checked here so each constructor does not repeat it. */
export interface CoreControllerOptions {
  getState: GetState;
  propose: Propose;
}

/** Throws HEALTH_INVALID_CONTROLLER_OPTIONS unless `opts` carries getState and propose functions. */
export function checkCoreOptions(what: string, opts: CoreControllerOptions): void {
  if (opts === null || typeof opts !== "object")
    throw new ControllerError("HEALTH_INVALID_CONTROLLER_OPTIONS", `${what}: options object required`);
  if (typeof opts.getState !== "function" || typeof opts.propose !== "function") {
    throw new ControllerError(
      "HEALTH_INVALID_CONTROLLER_OPTIONS",
      `${what}: getState and propose must be functions`,
    );
  }
}

export { errorText };

/** Validates a numeric option: finite and within [min, max]; undefined takes the default. */
export function numberOption(
  what: string,
  name: string,
  v: number | undefined,
  dflt: number,
  min: number,
  max = Number.POSITIVE_INFINITY,
): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    throw new ControllerError(
      "HEALTH_INVALID_CONTROLLER_OPTIONS",
      `${what}: ${name} must be a number in [${min}, ${max === Number.POSITIVE_INFINITY ? "inf" : max}], got ${String(v)}`,
    );
  }
  return v;
}
