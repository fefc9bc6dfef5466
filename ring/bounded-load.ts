// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam, SODA 2018) as a
// decorator over any HashTable: a request goes to the first member, in the inner table's
// successor order, whose in-flight load is under ceil(factor * (total + 1) / n) — with
// weights, under ceil(factor * (total + 1) * weight / totalWeight), which is the same cap
// when all weights are equal and keeps a weight-2 member's share twice a weight-1's.
//
// The caller owns the load counts (an Int32Array indexed like `members`) and the total, and
// passes them per call, so the table stays immutable and shareable between pools' snapshots.
// Because sum(loads) = total < sum(caps) whenever factor >= 1, some member is always under
// the cap; if `accept` refuses every member under the cap, pickBounded falls back to the
// first member `accept` takes regardless of load (serving hot is better than failing).

import { RingConfigError } from "./ring-error.js";
import type { AcceptMember, HashTable, RingMember } from "./types.js";

export const DEFAULT_BALANCE_FACTOR = 1.25;

export interface BoundedLoadOptions {
  /** Cap as a multiple of the mean load; >= 1.0 (default 1.25). */
  readonly balanceFactor?: number;
}

const acceptAll: AcceptMember = () => true;

export class BoundedLoad implements HashTable {
  readonly algorithm: string;
  readonly members: readonly RingMember[];
  readonly inner: HashTable;
  readonly balanceFactor: number;

  // Per-call state read by `underCap`; saved and restored around each call so a
  // re-entrant pickBounded (from inside accept) cannot clobber an outer one.
  private curAccept: AcceptMember = acceptAll;
  private curLoads: Int32Array = new Int32Array(0);
  private curScaled = 0; // factor * (total + 1) for the current call
  // Weight per member index and their sum; the cap is computed as scaled * w / W (not
  // scaled * (w / W)) so equal weights give exactly the paper's ceil(factor*(total+1)/n).
  private readonly weight: Float64Array;
  private readonly totalWeight: number;
  private readonly underCap: AcceptMember;
  private readonly overCap: AcceptMember;

  constructor(inner: HashTable, options: BoundedLoadOptions = {}) {
    if (inner === null || typeof inner !== "object" || typeof inner.pick !== "function") {
      throw new RingConfigError("RING_INVALID_BOUNDED_LOAD", "bounded load: inner must be a HashTable");
    }
    const factor = options.balanceFactor ?? DEFAULT_BALANCE_FACTOR;
    if (typeof factor !== "number" || !Number.isFinite(factor) || factor < 1) {
      throw new RingConfigError(
        "RING_INVALID_BOUNDED_LOAD",
        `bounded load: balanceFactor must be a finite number >= 1.0, got ${String(factor)}`,
      );
    }
    this.inner = inner;
    this.members = inner.members;
    this.algorithm = `bounded-load/${inner.algorithm}`;
    this.balanceFactor = factor;
    this.weight = Float64Array.from(inner.members, (m) => m.weight);
    let totalWeight = 0;
    for (const m of inner.members) totalWeight += m.weight;
    this.totalWeight = totalWeight;
    this.underCap = (m: number): boolean =>
      this.curLoads[m] < this.cap(this.curScaled, m) && this.curAccept(m);
    // The fallback pass asks only members the first pass skipped for load, so `accept`
    // sees each member at most once per call.
    this.overCap = (m: number): boolean =>
      this.curLoads[m] >= this.cap(this.curScaled, m) && this.curAccept(m);
  }

  /** Member m's cap given scaled = factor * (total + 1). */
  private cap(scaled: number, m: number): number {
    return Math.ceil((scaled * this.weight[m]) / this.totalWeight);
  }

  /**
   * How many in-flight requests member `memberIndex` may hold, given `totalInFlight`
   * across the pool, before the next request goes elsewhere.
   */
  capOf(memberIndex: number, totalInFlight: number): number {
    if (memberIndex < 0 || memberIndex >= this.weight.length) return 0;
    return this.cap(this.balanceFactor * (totalInFlight + 1), memberIndex);
  }

  /** Owner ignoring load (the inner table's owner). */
  lookup(hash: number): number {
    return this.inner.lookup(hash);
  }

  /** The inner table's pick, i.e. pickBounded with every load at zero. */
  pick(hash: number, accept: AcceptMember): number {
    return this.inner.pick(hash, accept);
  }

  successors(hash: number): IterableIterator<number> {
    return this.inner.successors(hash);
  }

  /**
   * The first member in successor order that is under the load cap and that `accept`
   * takes; else the first member over the cap that `accept` takes; else -1. `accept` is
   * asked at most once per member. Allocation-free.
   * `inFlight[i]` is member i's current load; `totalInFlight` their sum.
   */
  pickBounded(hash: number, accept: AcceptMember, inFlight: Int32Array, totalInFlight: number): number {
    const n = this.members.length;
    if (n === 0) return -1;
    if (inFlight.length < n) {
      throw new RangeError(`pickBounded: inFlight has ${inFlight.length} entries for ${n} members`);
    }
    if (!(totalInFlight >= 0))
      throw new RangeError(`pickBounded: totalInFlight must be >= 0, got ${totalInFlight}`);
    const savedAccept = this.curAccept;
    const savedLoads = this.curLoads;
    const savedScaled = this.curScaled;
    this.curAccept = accept;
    this.curLoads = inFlight;
    this.curScaled = this.balanceFactor * (totalInFlight + 1);
    try {
      const m = this.inner.pick(hash, this.underCap);
      return m !== -1 ? m : this.inner.pick(hash, this.overCap);
    } finally {
      this.curAccept = savedAccept;
      this.curLoads = savedLoads;
      this.curScaled = savedScaled;
    }
  }
}

/** Wraps `inner` with bounded loads; throws RingConfigError on a factor below 1.0. */
export function withBoundedLoad(inner: HashTable, options: BoundedLoadOptions = {}): BoundedLoad {
  return new BoundedLoad(inner, options);
}
