// The deciding half of the circuit breaker: a pure state machine per (pool, member) driven by
// outcome batches (from OutcomeRecorder.drain() on every instance) and an injected monotonic
// clock. It runs on the Raft leader; the transitions it returns are proposals the leader
// commits, so every instance applies the same breaker state at the same log index.
//
//   closed --(N consecutive failures, or failure rate >= threshold over the sliding window
//             with at least minRequests requests)--> open
//   open --(cool-down elapsed: openFor * 2^k, capped at maxOpenFor)--> half-open
//   half-open --(halfOpenProbes successes, no failure)--> closed (k resets)
//   half-open --(any failure)--> open (k + 1)
//   half-open --(the pool's response timeout passed without a failure)--> closed (k resets)
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

import type { BreakerConfig } from "../config/file/schema.js";
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

/**
 * The rules a decider runs: the pool's `breaker` section exactly as the config schema produced
 * it (config/file/schema.ts holds the defaults and the checks, durations already in ms).
 */
export type BreakerRules = Omit<BreakerConfig, "enabled" | "failureStatuses">;

/** Buckets of the sliding window: window / 10 is fine-grained enough and keeps a member's window at 176 bytes (two totals and 10 bucket pairs). */
const BUCKETS = 10;

export interface BreakerView {
  readonly state: BreakerState;
  readonly until: number | null;
  /** Re-opens since the last close (the k in openFor * 2^k). */
  readonly reopens: number;
  readonly override: BreakerOverride;
  /** Requests and failures in the current window (closed state). */
  readonly windowTotal: number;
  readonly windowFailures: number;
}

interface MemberState {
  pool: string;
  member: string;
  state: BreakerState;
  until: number | null;
  reopens: number;
  override: BreakerOverride;
  run: number;
  /**
   * Where this member's sliding window starts in the decider's window slab: the window's
   * successes and failures (the sums of its buckets) at at + OK and at + FAIL, then bucket
   * i's successes at at + BUCKET + 2i and its failures next to them.
   */
  at: number;
  /** Absolute bucket number of the newest bucket. */
  head: number;
  probeOk: number;
  /** While half-open: when the window without a failed probe ends (decider clock). */
  decideBy: number;
}

// A member's window in the slab. The totals are kept as buckets are added to and zeroed: an
// ingest reads two numbers instead of summing 20 spread over three cache lines (at 10,000
// members with traffic, misses on every entry), and a bucket's two counts sit side by side.
// The totals live in the slab, not in MemberState: a field first holding small integers and
// later a double (a bucket subtracted) changes every member object's shape once, which cost
// a pause of milliseconds at 10,000 members.
const OK = 0;
const FAIL = 1;
const BUCKET = 2;
/** Numbers per member window in the slab. */
const WINDOW = BUCKET + 2 * BUCKETS;

/**
 * Members the forgettable sweep visits per tick() at most: a tick runs at least 10 times a
 * second (the controller's timer, plus one per ingested batch), so a sweep of 10,000 members
 * finishes within the default bucket (window / 10 = 1 s), in slices of about 30 us.
 */
const SWEEP_BUDGET = 1024;

export class BreakerDecider {
  /** pool -> member -> state. Nested rather than keyed by "pool/member": no key string per member. */
  private readonly pools = new Map<string, Map<string, MemberState>>();
  private readonly bucketMs: number;
  /**
   * Every member's window, WINDOW numbers each, in one array: a typed array per member was
   * three heap objects and an off-heap store each, thousands of them in a big pool with traffic.
   */
  private slab = new Float64Array(16 * WINDOW);
  /** Slab offsets used so far, and those freed by forgotten members (reused first). */
  private slabUsed = 0;
  private readonly freeAt: number[] = [];
  /**
   * Members tick() has something to do for: automatic breakers that are open with a cool-down
   * or half-open. While there are none, tick() walks nobody except for the periodic sweep of
   * forgettable members, so an ingest (10 per second per instance) no longer costs a pass over
   * every member with traffic in its window.
   */
  private readonly timed = new Set<MemberState>();
  /** The bucket number the last forgettable sweep started in (one sweep per bucket). */
  private sweptBucket = Number.NEGATIVE_INFINITY;
  /**
   * The forgettable sweep under way: where it is in the pools and in the current pool's
   * members (Map iterators stay valid while entries are deleted). A sweep visits at most
   * SWEEP_BUDGET members per tick(), so a pool with 10,000 members with traffic is not walked
   * in one go inside a request's latency; null iterators: no sweep under way.
   */
  private sweepPools: Iterator<Map<string, MemberState>> | null = null;
  private sweepMembers: Iterator<MemberState> | null = null;
  /** Members the last tick() visited (timed ones plus the sweep's share): for tests and benches. */
  private visited = 0;
  /** Entries the last ingest() skipped (malformed counts, or members outside its `known`). */
  private ignored = 0;

  /**
   * `responseTimeout` is the pool's timeouts.response: it bounds how long a probe can take,
   * so it is how long half-open waits for a failed probe before closing.
   */
  constructor(
    readonly rules: Readonly<BreakerRules>,
    private readonly responseTimeout: number,
  ) {
    this.bucketMs = rules.window / BUCKETS;
  }

  private find(pool: string, member: string): MemberState | undefined {
    return this.pools.get(pool)?.get(member);
  }

  private get(pool: string, member: string, now: number): MemberState {
    return this.getIn(this.membersOf(pool), pool, member, now);
  }

  /** `pool`'s member states, created empty on first use. */
  private membersOf(pool: string): Map<string, MemberState> {
    let members = this.pools.get(pool);
    if (members === undefined) {
      members = new Map();
      this.pools.set(pool, members);
    }
    return members;
  }

  /** get() with the pool's map already looked up (`members` is membersOf(pool)). */
  private getIn(members: Map<string, MemberState>, pool: string, member: string, now: number): MemberState {
    let m = members.get(member);
    if (m === undefined) {
      m = {
        pool,
        member,
        state: "closed",
        until: null,
        reopens: 0,
        override: "auto",
        run: 0,
        at: this.allocWindow(),
        head: Math.floor(now / this.bucketMs),
        probeOk: 0,
        decideBy: 0,
      };
      members.set(member, m);
    }
    return m;
  }

  private delete(pool: string, member: string): void {
    const members = this.pools.get(pool);
    if (members === undefined) return;
    const m = members.get(member);
    if (m === undefined) return;
    members.delete(member);
    if (members.size === 0) this.pools.delete(pool);
    this.timed.delete(m);
    this.freeAt.push(m.at);
  }

  /** A zeroed window's slab offset. */
  private allocWindow(): number {
    const reused = this.freeAt.pop();
    if (reused !== undefined) {
      this.slab.fill(0, reused, reused + WINDOW);
      return reused;
    }
    if (this.slabUsed + WINDOW > this.slab.length) {
      const grown = new Float64Array(this.slab.length * 2);
      grown.set(this.slab);
      this.slab = grown;
    }
    const at = this.slabUsed;
    this.slabUsed += WINDOW;
    return at;
  }

  /** Keeps `timed` in step with `m` after its state or override changed. */
  private retime(m: MemberState): void {
    if (m.override === "auto" && ((m.state === "open" && m.until !== null) || m.state === "half-open"))
      this.timed.add(m);
    else this.timed.delete(m);
  }

  /**
   * True when `m` behaves exactly like a member with no state: closed, automatic, no re-opens,
   * no failure run, and every bucket of its window expired by `now`. Such a state is dropped,
   * so members that saw traffic once do not keep a window forever.
   */
  private forgettable(m: MemberState, now: number): boolean {
    return (
      m.state === "closed" &&
      m.override === "auto" &&
      m.reopens === 0 &&
      m.run === 0 &&
      Math.floor(now / this.bucketMs) - m.head >= BUCKETS
    );
  }

  /** Moves the window so its newest bucket covers `now`, zeroing buckets that fell out. */
  private rotate(m: MemberState, now: number): void {
    const b = Math.floor(now / this.bucketMs);
    if (b <= m.head) return;
    const n = BUCKETS;
    const steps = Math.min(n, b - m.head);
    const w = this.slab;
    if (steps === n) {
      // Every bucket expired: nothing of the old window is left.
      w.fill(0, m.at, m.at + WINDOW);
    } else {
      for (let i = 1; i <= steps; i++) {
        const o = m.at + BUCKET + 2 * ((((m.head + i) % n) + n) % n);
        w[o] = 0;
        w[o + 1] = 0;
      }
      // Summed afresh (at most once a bucket per member, not per entry): subtracting what
      // left would let counts that are not integers (a follower's batch is only checked to
      // be finite and >= 0) leave a residue in the totals.
      let ok = 0;
      let fail = 0;
      for (let o = m.at + BUCKET; o < m.at + WINDOW; o += 2) {
        ok += w[o];
        fail += w[o + 1];
      }
      w[m.at + OK] = ok;
      w[m.at + FAIL] = fail;
    }
    m.head = b;
  }

  private resetWindow(m: MemberState, now: number): void {
    this.slab.fill(0, m.at, m.at + WINDOW);
    m.head = Math.floor(now / this.bucketMs);
    m.run = 0;
  }

  private coolDown(reopens: number): number {
    const { openFor, maxOpenFor } = this.rules;
    return Math.min(maxOpenFor, openFor * 2 ** Math.min(reopens, 52));
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
    this.retime(m);
    if (from !== to) out.push({ pool: m.pool, member: m.member, from, to, until, reason });
  }

  private open(m: MemberState, now: number, reason: TransitionReason, out: BreakerTransition[]): void {
    this.move(m, "open", now + this.coolDown(m.reopens), reason, out);
    this.resetWindow(m, now);
  }

  /** Time-driven transitions only (open -> half-open once the cool-down has elapsed). */
  tick(now: number): BreakerTransition[] {
    const out: BreakerTransition[] = [];
    this.visited = 0;
    // Only timed members (open with a cool-down, half-open) have a time-driven transition:
    // they are stepped, and nobody else. Walking every member with traffic whenever one was
    // timed cost a pass over 10,000 members on each tick and ingest (20 a second) while a
    // single breaker was open. Members are stepped in the order they became timed.
    if (this.timed.size > 0) {
      const due: MemberState[] = [];
      for (const m of this.timed) if (this.isDue(m, now)) due.push(m);
      this.visited += this.timed.size;
      for (const m of due) this.step(m, now, out);
    }
    // Forgetting expired windows changes no decision (a forgettable member decides like an
    // unknown one), so it runs as a sweep started once per bucket, in bounded slices.
    const bucket = Math.floor(now / this.bucketMs);
    if (this.sweepPools === null && bucket > this.sweptBucket) {
      this.sweptBucket = bucket;
      this.sweepPools = this.pools.values();
      this.sweepMembers = null;
    }
    if (this.sweepPools !== null) this.sweep(now);
    return out;
  }

  /** Whether step() would move `m` at `now`. */
  private isDue(m: MemberState, now: number): boolean {
    if (m.override !== "auto") return false;
    if (m.state === "open") return m.until !== null && now >= m.until;
    return m.state === "half-open" && now >= m.decideBy;
  }

  /** Advances the forgettable sweep by at most SWEEP_BUDGET members. */
  private sweep(now: number): void {
    let budget = SWEEP_BUDGET;
    while (budget > 0 && this.sweepPools !== null) {
      if (this.sweepMembers === null) {
        const next = this.sweepPools.next();
        if (next.done === true) {
          this.sweepPools = null;
          return;
        }
        this.sweepMembers = next.value.values();
      }
      const it = this.sweepMembers;
      for (;;) {
        if (budget === 0) return;
        const next = it.next();
        if (next.done === true) {
          this.sweepMembers = null;
          break;
        }
        budget--;
        this.visited++;
        const m = next.value;
        if (this.forgettable(m, now)) this.delete(m.pool, m.member);
      }
    }
  }

  /** Members the last tick() visited (tests and benches: a tick's cost follows what is timed). */
  get lastTickVisits(): number {
    return this.visited;
  }

  /** Entries the last ingest() skipped: malformed counts, or members outside its `known`. */
  get lastIngestIgnored(): number {
    return this.ignored;
  }

  private step(m: MemberState, now: number, out: BreakerTransition[]): void {
    if (m.override !== "auto") return;
    if (m.state === "open" && m.until !== null && now >= m.until) {
      this.move(m, "half-open", null, "cool-down-elapsed", out);
      m.decideBy = now + this.responseTimeout;
    } else if (m.state === "half-open" && now >= m.decideBy) {
      m.reopens = 0;
      this.move(m, "closed", null, "probe-window-elapsed", out);
      this.resetWindow(m, now);
    }
  }

  /**
   * Applies one instance's batch at time `now` and returns the transitions to commit.
   * Call once per batch (each instance's drain); tick() is applied first.
   *
   * `known` (the pool's members, for a batch of one pool): an entry for a member this decider
   * has no state for and `known` lacks is skipped (counted in lastIngestIgnored). A member
   * with state is taken as known without asking `known` (the caller keeps every member it
   * gave state to, by ingest, adopt or override, in `known` until it calls remove()), so a
   * member with traffic in its window costs one lookup per entry, not a set probe and a map
   * probe. Without `known`, every member is accepted.
   */
  ingest(batch: OutcomeBatch, now: number, known?: ReadonlySet<string>): BreakerTransition[] {
    const out = this.tick(now);
    const o = this.rules;
    this.ignored = 0;
    // A batch is one pool's entries (the controller groups them): its map is looked up once
    // per run of entries of the same pool, not per entry. Nothing below deletes a pool's map.
    let pool: string | null = null;
    let members: Map<string, MemberState> | null = null;
    for (const e of batch.entries) {
      if (e.success < 0 || e.failure < 0 || !Number.isFinite(e.success) || !Number.isFinite(e.failure)) {
        this.ignored++;
        continue;
      }
      if (members === null || e.pool !== pool) {
        pool = e.pool;
        members = this.membersOf(pool);
      }
      let m = members.get(e.member);
      if (m === undefined) {
        if (known !== undefined && !known.has(e.member)) {
          this.ignored++;
          continue;
        }
        m = this.getIn(members, e.pool, e.member, now);
      }
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
      const w = this.slab;
      const b = m.at + BUCKET + 2 * (((m.head % BUCKETS) + BUCKETS) % BUCKETS);
      w[b] += e.success;
      w[b + 1] += e.failure;
      w[m.at + OK] += e.success;
      w[m.at + FAIL] += e.failure;
      m.run = e.success > 0 ? e.consecutive : m.run + e.failure;
      const worstRun = Math.max(m.run, e.maxConsecutive);
      if (worstRun >= o.consecutiveFailures) {
        this.open(m, now, "consecutive-failures", out);
        continue;
      }
      const fail = w[m.at + FAIL];
      const total = w[m.at + OK] + fail;
      if (total >= o.minRequests && fail / total >= o.failureRate) this.open(m, now, "failure-rate", out);
    }
    return out;
  }

  /** Forces a member's state (`auto` hands it back to the rules, starting closed). */
  override(pool: string, member: string, mode: BreakerOverride, now: number): BreakerTransition[] {
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
      this.delete(pool, member);
      return;
    }
    const m = this.get(pool, member, now);
    m.state = state;
    m.override = override;
    m.reopens = Math.max(0, Math.floor(reopens) || 0);
    m.until = state === "open" && override === "auto" ? now + this.coolDown(m.reopens) : null;
    m.decideBy = now + this.responseTimeout;
    m.probeOk = 0;
    this.resetWindow(m, now);
    this.retime(m);
  }

  /** Members with state of their own (the others are closed, automatic, with an empty window). */
  get trackedMembers(): number {
    let n = 0;
    for (const members of this.pools.values()) n += members.size;
    return n;
  }

  /** Forgets a member that left its pool. */
  remove(pool: string, member: string): void {
    this.delete(pool, member);
  }

  view(pool: string, member: string): BreakerView {
    const m = this.find(pool, member);
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
    const ok = this.slab[m.at + OK];
    const fail = this.slab[m.at + FAIL];
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
