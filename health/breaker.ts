// The deciding half of the circuit breaker: a pure state machine per (pool, member) driven by
// outcome batches (from OutcomeRecorder.drain() on every instance) and an injected monotonic
// clock. It runs on the Raft leader; the transitions it returns are proposals the leader
// commits, so every instance applies the same breaker state at the same log index.
//
//   closed --(N consecutive failures, or failure rate >= threshold over the sliding window
//             with at least minimumVolume requests)--> open
//   open --(cool-down elapsed: openMs * 2^k, capped at maxOpenMs)--> half-open
//   half-open --(halfOpenProbes successes, no failure)--> closed (k resets)
//   half-open --(any failure)--> open (k + 1)
//   half-open --(halfOpenMaxMs passed without a failure)--> closed (k resets)
//
// The last rule bounds half-open: probes can end without an outcome (the client left, the
// request was upgraded, no request for the member's keys came), and a member must not stay
// out of rotation until an operator acts. A probe that fails within the window re-opens it;
// the data plane's response timeout bounds how long a probe can take, so the window is
// that timeout.
//
// `until` in a transition is on the decider's clock: followers must not compare it with their
// own clocks; the leader itself emits open -> half-open from tick()/ingest().

import type { OutcomeBatch } from "./outcome-recorder.js";

export {
  type OutcomeBatch,
  type OutcomeCounts,
  OutcomeRecorder,
  type OutcomeRecorderOptions,
  type UpstreamErrorKind,
} from "./outcome-recorder.js";

import type { BreakerOverride, BreakerState } from "../config/state/commands.js";

export type { BreakerOverride, BreakerState };

export type TransitionReason =
  | "consecutive-failures"
  | "failure-rate"
  | "cool-down-elapsed"
  | "probe-failed"
  | "probes-succeeded"
  | "probe-window-elapsed"
  | "forced-open"
  | "forced-closed"
  | "override-cleared";

export interface BreakerTransition {
  readonly pool: string;
  readonly member: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
  /** For `open`: when the cool-down ends (decider clock, ms); null otherwise or when forced. */
  readonly until: number | null;
  readonly reason: TransitionReason;
}

export interface BreakerOptions {
  /** Open after this many consecutive failures (default 5; 0 disables the rule). */
  consecutiveFailures?: number;
  /** Open when failures / total >= this over the window (default 0.5; 0 disables the rule). */
  failureRate?: number;
  /** The rate rule needs at least this many requests in the window (default 20). */
  minimumVolume?: number;
  /** Sliding window length (default 10000 ms) and its number of buckets (default 10). */
  windowMs?: number;
  buckets?: number;
  /** First cool-down (default 5000 ms); each re-open doubles it up to maxOpenMs (default 60000 ms). */
  openMs?: number;
  maxOpenMs?: number;
  /** Successful probes needed in half-open to close (default 3). */
  halfOpenProbes?: number;
  /** Longest stay in half-open without a failed probe before closing (default 30000 ms: the pool's response timeout). */
  halfOpenMaxMs?: number;
}

export interface BreakerView {
  readonly state: BreakerState;
  readonly until: number | null;
  /** Re-opens since the last close (the k in openMs * 2^k). */
  readonly reopens: number;
  readonly override: BreakerOverride;
  /** Requests and failures in the current window (closed state). */
  readonly windowTotal: number;
  readonly windowFailures: number;
}

export class BreakerConfigError extends Error {
  readonly code = "HEALTH_INVALID_BREAKER_OPTIONS";
  override name = "BreakerConfigError";
}

interface Resolved {
  consecutiveFailures: number;
  failureRate: number;
  minimumVolume: number;
  windowMs: number;
  buckets: number;
  bucketMs: number;
  openMs: number;
  maxOpenMs: number;
  halfOpenProbes: number;
  halfOpenMaxMs: number;
}

interface MemberState {
  pool: string;
  member: string;
  state: BreakerState;
  until: number | null;
  reopens: number;
  override: BreakerOverride;
  run: number;
  okBuckets: Float64Array;
  failBuckets: Float64Array;
  /** Absolute bucket number of the newest bucket. */
  head: number;
  probeOk: number;
  /** While half-open: when the window without a failed probe ends (decider clock). */
  decideBy: number;
}

function num(
  name: string,
  v: number | undefined,
  dflt: number,
  min: number,
  max = Number.POSITIVE_INFINITY,
  int = false,
): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) {
    throw new BreakerConfigError(
      `breaker: ${name} must be ${int ? "an integer" : "a number"} in [${min}, ${max}], got ${String(v)}`,
    );
  }
  return v;
}

/** Validates options and fills defaults; throws BreakerConfigError naming the field. */
export function resolveBreakerOptions(o: BreakerOptions = {}): Readonly<Resolved> {
  const windowMs = num("windowMs", o.windowMs, 10_000, 1);
  const buckets = num("buckets", o.buckets, 10, 1, 1000, true);
  const openMs = num("openMs", o.openMs, 5000, 1);
  const r: Resolved = {
    consecutiveFailures: num(
      "consecutiveFailures",
      o.consecutiveFailures,
      5,
      0,
      Number.MAX_SAFE_INTEGER,
      true,
    ),
    failureRate: num("failureRate", o.failureRate, 0.5, 0, 1),
    minimumVolume: num("minimumVolume", o.minimumVolume, 20, 1, Number.MAX_SAFE_INTEGER, true),
    windowMs,
    buckets,
    bucketMs: windowMs / buckets,
    openMs,
    maxOpenMs: num("maxOpenMs", o.maxOpenMs, Math.max(60_000, openMs), openMs),
    halfOpenProbes: num("halfOpenProbes", o.halfOpenProbes, 3, 1, 1_000_000, true),
    halfOpenMaxMs: num("halfOpenMaxMs", o.halfOpenMaxMs, 30_000, 1),
  };
  if (r.consecutiveFailures === 0 && r.failureRate === 0) {
    throw new BreakerConfigError(
      "breaker: consecutiveFailures and failureRate cannot both be 0 (the breaker would never open)",
    );
  }
  return Object.freeze(r);
}

const key = (pool: string, member: string) => `${pool}\u0000${member}`;

export class BreakerDecider {
  readonly options: Readonly<Resolved>;
  private readonly members = new Map<string, MemberState>();

  constructor(opts: BreakerOptions = {}) {
    this.options = resolveBreakerOptions(opts);
  }

  private get(pool: string, member: string, now: number): MemberState {
    const k = key(pool, member);
    let m = this.members.get(k);
    if (m === undefined) {
      m = {
        pool,
        member,
        state: "closed",
        until: null,
        reopens: 0,
        override: "auto",
        run: 0,
        okBuckets: new Float64Array(this.options.buckets),
        failBuckets: new Float64Array(this.options.buckets),
        head: Math.floor(now / this.options.bucketMs),
        probeOk: 0,
        decideBy: 0,
      };
      this.members.set(k, m);
    }
    return m;
  }

  /** Moves the window so its newest bucket covers `now`, zeroing buckets that fell out. */
  private rotate(m: MemberState, now: number): void {
    const b = Math.floor(now / this.options.bucketMs);
    if (b <= m.head) return;
    const n = this.options.buckets;
    const steps = Math.min(n, b - m.head);
    for (let i = 1; i <= steps; i++) {
      const idx = (((m.head + i) % n) + n) % n;
      m.okBuckets[idx] = 0;
      m.failBuckets[idx] = 0;
    }
    m.head = b;
  }

  private resetWindow(m: MemberState, now: number): void {
    m.okBuckets.fill(0);
    m.failBuckets.fill(0);
    m.head = Math.floor(now / this.options.bucketMs);
    m.run = 0;
  }

  private coolDown(reopens: number): number {
    const { openMs, maxOpenMs } = this.options;
    return Math.min(maxOpenMs, openMs * 2 ** Math.min(reopens, 52));
  }

  private move(
    m: MemberState,
    to: BreakerState,
    until: number | null,
    reason: TransitionReason,
    out: BreakerTransition[],
  ): void {
    const from = m.state;
    m.state = to;
    m.until = until;
    m.probeOk = 0;
    if (from !== to) out.push({ pool: m.pool, member: m.member, from, to, until, reason });
  }

  private open(m: MemberState, now: number, reason: TransitionReason, out: BreakerTransition[]): void {
    this.move(m, "open", now + this.coolDown(m.reopens), reason, out);
    this.resetWindow(m, now);
  }

  /** Time-driven transitions only (open -> half-open once the cool-down has elapsed). */
  tick(now: number): BreakerTransition[] {
    const out: BreakerTransition[] = [];
    for (const m of this.members.values()) {
      if (m.override !== "auto") continue;
      if (m.state === "open" && m.until !== null && now >= m.until) {
        this.move(m, "half-open", null, "cool-down-elapsed", out);
        m.decideBy = now + this.options.halfOpenMaxMs;
      } else if (m.state === "half-open" && now >= m.decideBy) {
        m.reopens = 0;
        this.move(m, "closed", null, "probe-window-elapsed", out);
        this.resetWindow(m, now);
      }
    }
    return out;
  }

  /**
   * Applies one instance's batch at time `now` and returns the transitions to commit.
   * Call once per batch (each instance's drain); tick() is applied first.
   */
  ingest(batch: OutcomeBatch, now: number): BreakerTransition[] {
    const out = this.tick(now);
    const o = this.options;
    for (const e of batch.entries) {
      if (e.success < 0 || e.failure < 0 || !Number.isFinite(e.success) || !Number.isFinite(e.failure))
        continue;
      const m = this.get(e.pool, e.member, now);
      if (m.override !== "auto") continue;
      if (m.state === "open") continue; // stragglers from requests started before the trip
      if (m.state === "half-open") {
        if (e.failure > 0) {
          m.reopens++;
          this.open(m, now, "probe-failed", out);
        } else {
          m.probeOk += e.success;
          if (m.probeOk >= o.halfOpenProbes) {
            m.reopens = 0;
            this.move(m, "closed", null, "probes-succeeded", out);
            this.resetWindow(m, now);
          }
        }
        continue;
      }
      this.rotate(m, now);
      const idx = ((m.head % o.buckets) + o.buckets) % o.buckets;
      m.okBuckets[idx] += e.success;
      m.failBuckets[idx] += e.failure;
      m.run = e.success > 0 ? e.consecutive : m.run + e.failure;
      const worstRun = Math.max(m.run, e.maxConsecutive);
      if (o.consecutiveFailures > 0 && worstRun >= o.consecutiveFailures) {
        this.open(m, now, "consecutive-failures", out);
        continue;
      }
      if (o.failureRate > 0) {
        let ok = 0;
        let fail = 0;
        for (let i = 0; i < o.buckets; i++) {
          ok += m.okBuckets[i];
          fail += m.failBuckets[i];
        }
        const total = ok + fail;
        if (total >= o.minimumVolume && fail / total >= o.failureRate) this.open(m, now, "failure-rate", out);
      }
    }
    return out;
  }

  /** Forces a member's state (`auto` hands it back to the rules, starting closed). */
  override(pool: string, member: string, mode: BreakerOverride, now: number): BreakerTransition[] {
    if (mode !== "open" && mode !== "closed" && mode !== "auto") {
      throw new BreakerConfigError(
        `breaker override must be "open", "closed" or "auto", got ${JSON.stringify(mode)}`,
      );
    }
    const out: BreakerTransition[] = [];
    const m = this.get(pool, member, now);
    m.override = mode;
    m.reopens = 0;
    if (mode === "open") this.move(m, "open", null, "forced-open", out);
    else if (mode === "closed") this.move(m, "closed", null, "forced-closed", out);
    else this.move(m, "closed", null, "override-cleared", out);
    this.resetWindow(m, now);
    return out;
  }

  /**
   * Seeds a member from committed state (a new leader taking over): an open member gets a
   * full cool-down from `now`, since the old leader's clock is not ours.
   */
  adopt(
    pool: string,
    member: string,
    state: BreakerState,
    reopens: number,
    now: number,
    override: BreakerOverride = "auto",
  ): void {
    // A closed, automatic breaker with no history is what an unknown member already is: keep no
    // state (and no window) for it, so a pool of thousands of healthy members costs nothing here.
    if (state === "closed" && override === "auto" && !(reopens > 0)) {
      this.members.delete(key(pool, member));
      return;
    }
    const m = this.get(pool, member, now);
    m.state = state;
    m.override = override;
    m.reopens = Math.max(0, Math.floor(reopens) || 0);
    m.until = state === "open" && override === "auto" ? now + this.coolDown(m.reopens) : null;
    m.decideBy = now + this.options.halfOpenMaxMs;
    m.probeOk = 0;
    this.resetWindow(m, now);
  }

  /** Forgets a member that left its pool. */
  remove(pool: string, member: string): void {
    this.members.delete(key(pool, member));
  }

  view(pool: string, member: string): BreakerView {
    const m = this.members.get(key(pool, member));
    if (m === undefined) {
      return {
        state: "closed",
        until: null,
        reopens: 0,
        override: "auto",
        windowTotal: 0,
        windowFailures: 0,
      };
    }
    let ok = 0;
    let fail = 0;
    for (let i = 0; i < this.options.buckets; i++) {
      ok += m.okBuckets[i];
      fail += m.failBuckets[i];
    }
    return {
      state: m.state,
      until: m.until,
      reopens: m.reopens,
      override: m.override,
      windowTotal: ok + fail,
      windowFailures: fail,
    };
  }
}
