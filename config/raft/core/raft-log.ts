// The node's view of its log: the durable part (RaftStorage) followed by the "unstable" part
// the core appended but the driver has not yet persisted (and possibly an unstable snapshot
// received from the leader). Also tracks the commit and applied indexes.
import type { Entry, Snapshot } from "../types.js";
import { CompactedError, RaftInvariantError, UnavailableError } from "./errors.js";
import type { RaftStorage } from "./storage.js";

export class RaftLog {
  committed: number;
  /** Highest index handed to the application and acknowledged with advance(). */
  applied: number;
  unstableSnap: Snapshot | undefined = undefined;
  unstableEnts: Entry[] = [];
  /** Index of unstableEnts[0]. */
  unstableOffset: number;

  constructor(private readonly storage: RaftStorage) {
    const first = this.storage.firstIndex();
    this.unstableOffset = this.storage.lastIndex() + 1;
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstableSnap ? this.unstableSnap.meta.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstableEnts.length > 0) return this.unstableOffset + this.unstableEnts.length - 1;
    if (this.unstableSnap) return this.unstableSnap.meta.index;
    return this.storage.lastIndex();
  }

  /** Highest index known durable (the driver persisted it and called advance()). */
  stableLastIndex(): number {
    if (this.unstableSnap) return 0;
    return this.unstableEnts.length > 0 ? this.unstableOffset - 1 : this.storage.lastIndex();
  }

  /** Term of entry i, or undefined when i is compacted or beyond the log. */
  term(i: number): number | undefined {
    if (i === 0) return 0;
    const snap = this.unstableSnap;
    if (snap) {
      if (i === snap.meta.index) return snap.meta.term;
      if (i < snap.meta.index) return undefined;
    }
    if (i >= this.unstableOffset) {
      const k = i - this.unstableOffset;
      return k < this.unstableEnts.length ? this.unstableEnts[k].term : undefined;
    }
    if (snap) return undefined;
    if (i < this.storage.firstIndex() - 1 || i > this.storage.lastIndex()) return undefined;
    return this.storage.term(i);
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** §5.4.1: is a candidate's log (last index/term) at least as up-to-date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const t = this.lastTerm();
    return lastTerm > t || (lastTerm === t && lastIndex >= this.lastIndex());
  }

  /** Index of the first entry that is missing or has a different term, or 0 if all match. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term` (fast log back-up): every entry in
   * between has a larger term than the other side's entry at `index`, so none can match.
   */
  findConflictByTerm(index: number, term: number): number {
    for (let i = index; i > 0; i--) {
      const t = this.term(i);
      if (t === undefined || t <= term) return i;
    }
    return 0;
  }

  /** Appends after truncating any unstable suffix from ents[0].index. */
  append(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const after = ents[0].index;
    if (after <= this.committed) {
      throw new RaftInvariantError(`append at ${after} would overwrite committed index ${this.committed}`);
    }
    const off = this.unstableOffset;
    if (after === off + this.unstableEnts.length) {
      for (const e of ents) this.unstableEnts.push(e);
    } else if (after <= off) {
      // Replaces everything unstable (and shadows any durable entries from `after` on).
      this.unstableOffset = after;
      this.unstableEnts = ents.slice();
    } else {
      this.unstableEnts.length = after - off;
      for (const e of ents) this.unstableEnts.push(e);
    }
  }

  /** Entries [lo, hi) limited to about maxBytes of data (at least one entry). */
  slice(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    const last = this.lastIndex();
    if (hi > last + 1) throw new UnavailableError(hi - 1, last);
    const off = this.unstableOffset;
    let out: Entry[] = [];
    let bytes = 0;
    if (lo < off) {
      const stHi = Math.min(hi, off);
      out = this.storage.entries(lo, stHi, maxBytes);
      if (out.length < stHi - lo) return out;
      for (const e of out) bytes += e.data.length;
    }
    for (let i = Math.max(lo, off); i < hi; i++) {
      const e = this.unstableEnts[i - off];
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  commitTo(i: number): void {
    if (i <= this.committed) return;
    if (i > this.lastIndex()) {
      throw new RaftInvariantError(`commit ${i} is beyond the last index ${this.lastIndex()}`);
    }
    this.committed = i;
  }

  hasNextCommitted(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  nextCommitted(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (lo > this.committed) return [];
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  /** Entries up to (i, t) are durable: drop them from the unstable part. */
  stableTo(i: number, t: number): void {
    if (this.unstableSnap) return;
    if (i < this.unstableOffset) return;
    const k = i - this.unstableOffset;
    if (k >= this.unstableEnts.length || this.unstableEnts[k].term !== t) return; // truncated meanwhile
    this.unstableEnts = this.unstableEnts.slice(k + 1);
    this.unstableOffset = i + 1;
  }

  stableSnapTo(i: number): void {
    if (this.unstableSnap && this.unstableSnap.meta.index === i) this.unstableSnap = undefined;
  }

  /** Replaces the whole log with the leader's snapshot. */
  restore(snap: Snapshot): void {
    this.unstableSnap = snap;
    this.unstableEnts = [];
    this.unstableOffset = snap.meta.index + 1;
    this.committed = snap.meta.index;
  }
}
