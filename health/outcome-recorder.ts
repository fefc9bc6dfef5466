// The request-path half of the circuit breaker: counts request outcomes per (pool, member)
// in preallocated typed arrays, so recording is an index and an increment (no allocation, no
// closure). Off the request path, drain() hands a compact batch to the BreakerDecider (on the
// Raft leader, which commits the resulting transitions for every instance).

/** Why a request failed before a usable response, as the proxy saw it (proxy/forward/types.ts has the same union under the same name; it may import this one). */
export type UpstreamErrorKind = "connect" | "reset" | "timeout";

export interface OutcomeCounts {
  readonly pool: string;
  readonly member: string;
  readonly success: number;
  readonly failure: number;
  /** Current run of failures since the last success (carries across drains). */
  readonly consecutive: number;
  /** Longest run of failures seen during this window (the carried run included). */
  readonly maxConsecutive: number;
  /** Breakdown of `failure` (the rest are failure statuses). */
  readonly connectErrors: number;
  readonly resets: number;
  readonly timeouts: number;
}

/** What one instance observed since its last drain; only members with activity appear. */
export interface OutcomeBatch {
  readonly entries: readonly OutcomeCounts[];
}

export interface OutcomeRecorderOptions {
  /** A pool's breaker.failureStatuses as the config schema checked them (default 502, 503, 504). */
  failureStatuses?: readonly number[];
}

const DEFAULT_FAILURE_STATUSES = [502, 503, 504];

// Field offsets inside a slot's STRIDE counters.
const SUCCESS = 0;
const FAILURE = 1;
const RUN = 2;
const MAX_RUN = 3;
const PROBES = 4;
const CONNECTS = 5;
const RESETS = 6;
const TIMEOUTS = 7;
const STRIDE = 8;

/**
 * drain() sorts its list of active slots while there is less than one per this many bitmap
 * words (32 slots each), and walks the bitmap otherwise.
 */
const WORDS_PER_SORTED_SLOT = 4;

export class OutcomeRecorder {
  /** pool -> member -> slot (nested: no "pool/member" key string per member). */
  private readonly keys = new Map<string, Map<string, number>>();
  private slotCount = 0;
  private pools: string[] = [];
  private members: string[] = [];
  /**
   * Every slot's counters side by side (STRIDE numbers from slot * STRIDE, fields at the
   * offsets below): one 32-byte run per member instead of one entry in each of eight arrays,
   * so a request touches one cache line of its member's counters, and a drain another.
   */
  private c = new Uint32Array(16 * STRIDE);
  // Slots with activity since the last drain, so drain() costs the active members, not the
  // pool: a bit per slot (32 slots a word) and the list of slots in the order they first saw
  // activity. drain() reports in slot order: with many slots active it walks the bits (a
  // word per 32 slots, skipping empty words), with few it sorts the short list; sorting the
  // list every time cost ~9 us at 1,000 active slots and ~87 us at 3,000.
  private activeBits = new Uint32Array(1);
  private active = new Int32Array(16);
  private activeCount = 0;
  /** Released slots, reusable once reclaim() says no older reader can still hold them. */
  private released: number[] = [];
  private reusable: number[] = [];
  private readonly failStatus = new Uint8Array(600);

  constructor(opts: OutcomeRecorderOptions = {}) {
    // Integers 100..599 (the schema's check), so each one indexes failStatus.
    for (const s of opts.failureStatuses ?? DEFAULT_FAILURE_STATUSES) this.failStatus[s] = 1;
  }

  /**
   * The slot for (pool, member), created on first use. Call it when membership is applied
   * (not per request) and keep the number: every record call takes it.
   */
  slot(pool: string, member: string): number {
    let byMember = this.keys.get(pool);
    if (byMember === undefined) {
      byMember = new Map();
      this.keys.set(pool, byMember);
    }
    let s = byMember.get(member);
    if (s === undefined) {
      const reused = this.reusable.pop();
      if (reused !== undefined) {
        s = reused;
        this.pools[s] = pool;
        this.members[s] = member;
      } else {
        s = this.pools.length;
        this.pools.push(pool);
        this.members.push(member);
        if (s >= this.active.length) this.grow();
      }
      byMember.set(member, s);
      this.slotCount++;
    }
    return s;
  }

  /** Clears every count of `slot` (runs and probe budget included), as if it were new. */
  resetSlot(slot: number): void {
    this.c.fill(0, slot * STRIDE, slot * STRIDE + STRIDE);
  }

  /**
   * Forgets (pool, member): its counts are dropped and its slot is reused after the next
   * reclaim() (a reader holding the number from before may still touch it until then).
   */
  release(pool: string, member: string): void {
    const byMember = this.keys.get(pool);
    const s = byMember?.get(member);
    if (byMember === undefined || s === undefined) return;
    byMember.delete(member);
    if (byMember.size === 0) this.keys.delete(pool);
    this.slotCount--;
    this.resetSlot(s);
    // memberOf(s) no longer names it: a cached slot number of the leaver is seen to be stale.
    this.members[s] = "";
    this.released.push(s);
  }

  /** Makes slots released before the previous reclaim() reusable. */
  reclaim(): void {
    for (const s of this.reusable) this.released.push(s);
    this.reusable = this.released;
    this.released = [];
  }

  /** The member `slot` belongs to ("" for a released or unknown slot). */
  memberOf(slot: number): string {
    return this.members[slot] ?? "";
  }

  /** Slots in use (for tests and memory checks). */
  get size(): number {
    return this.slotCount;
  }

  private touch(slot: number): void {
    const w = slot >>> 5;
    const bit = 1 << (slot & 31);
    if ((this.activeBits[w] & bit) !== 0) return;
    this.activeBits[w] |= bit;
    this.active[this.activeCount++] = slot;
  }

  private grow(): void {
    const n = this.active.length * 2;
    const c = new Uint32Array(n * STRIDE);
    c.set(this.c);
    this.c = c;
    const bits = new Uint32Array(n >>> 5);
    bits.set(this.activeBits);
    this.activeBits = bits;
    const active = new Int32Array(n);
    active.set(this.active);
    this.active = active;
  }

  recordSuccess(slot: number): void {
    this.touch(slot);
    const at = slot * STRIDE;
    this.c[at + SUCCESS]++;
    this.c[at + RUN] = 0;
  }

  /** A failure the caller classified itself (prefer recordError / recordStatus). */
  recordFailure(slot: number): void {
    this.touch(slot);
    const at = slot * STRIDE;
    this.c[at + FAILURE]++;
    const r = ++this.c[at + RUN];
    if (r > this.c[at + MAX_RUN]) this.c[at + MAX_RUN] = r;
  }

  /** A connect error, a reset before the response completed, or a timeout. */
  recordError(slot: number, kind: UpstreamErrorKind): void {
    this.c[slot * STRIDE + (kind === "connect" ? CONNECTS : kind === "reset" ? RESETS : TIMEOUTS)]++;
    this.recordFailure(slot);
  }

  /** Classifies a response status: a configured failure status is a failure, anything else a success. */
  recordStatus(slot: number, status: number): void {
    if (status >= 0 && status < 600 && this.failStatus[status] === 1) this.recordFailure(slot);
    else this.recordSuccess(slot);
  }

  /** True when `status` is configured as a failure. */
  isFailureStatus(status: number): boolean {
    return status >= 0 && status < 600 && this.failStatus[status] === 1;
  }

  /**
   * Half-open admission: true while fewer than `limit` admitted probes of the slot are in
   * flight. Each admission is given back with releaseProbe(slot) when the probe ends.
   */
  admitProbe(slot: number, limit: number): boolean {
    if (this.c[slot * STRIDE + PROBES] >= limit) return false;
    this.c[slot * STRIDE + PROBES]++;
    return true;
  }

  releaseProbe(slot: number): void {
    if (this.c[slot * STRIDE + PROBES] > 0) this.c[slot * STRIDE + PROBES]--;
  }

  probeAvailable(slot: number, limit: number): boolean {
    return this.c[slot * STRIDE + PROBES] < limit;
  }

  resetProbes(slot: number): void {
    this.c[slot * STRIDE + PROBES] = 0;
  }

  /**
   * Returns and clears the counts of every slot with activity since the last drain, in
   * ascending slot order (as a full scan would list them).
   */
  drain(): OutcomeBatch {
    const entries: OutcomeCounts[] = [];
    const n = this.activeCount;
    if (n === 0) return { entries };
    this.activeCount = 0;
    const bits = this.activeBits;
    const words = bits.length;
    if (n * WORDS_PER_SORTED_SLOT < words) {
      // Few active slots in a big table: sorting them beats walking every word.
      const active = this.active.subarray(0, n).sort();
      for (let i = 0; i < active.length; i++) {
        const s = active[i];
        bits[s >>> 5] &= ~(1 << (s & 31));
        this.report(s, entries);
      }
      return { entries };
    }
    for (let w = 0; w < words; w++) {
      let word = bits[w];
      if (word === 0) continue;
      bits[w] = 0;
      const base = w << 5;
      while (word !== 0) {
        // Lowest set bit first: ascending slots.
        const low = word & -word;
        this.report(base + 31 - Math.clz32(low), entries);
        word ^= low;
      }
    }
    return { entries };
  }

  /** Appends `s`'s counts to `entries` when it saw an outcome, and clears them. */
  private report(s: number, entries: OutcomeCounts[]): void {
    const c = this.c;
    const at = s * STRIDE;
    const su = c[at + SUCCESS];
    const fa = c[at + FAILURE];
    if (su === 0 && fa === 0) return;
    entries.push({
      pool: this.pools[s],
      member: this.members[s],
      success: su,
      failure: fa,
      consecutive: c[at + RUN],
      maxConsecutive: c[at + MAX_RUN],
      connectErrors: c[at + CONNECTS],
      resets: c[at + RESETS],
      timeouts: c[at + TIMEOUTS],
    });
    c[at + SUCCESS] = 0;
    c[at + FAILURE] = 0;
    c[at + CONNECTS] = 0;
    c[at + RESETS] = 0;
    c[at + TIMEOUTS] = 0;
    c[at + MAX_RUN] = c[at + RUN];
  }
}
