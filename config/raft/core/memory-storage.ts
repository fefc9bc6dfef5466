// An in-memory RaftStorage with the write side a driver needs (after etcd's MemoryStorage).
// Used by tests and the simulation, where "persisted" means "written here": a simulated crash
// keeps this object and discards the node.
import type { ConfState, Entry, HardState, RetiredState, Snapshot } from "../types.js";
import { EMPTY_CONF_STATE, EMPTY_HARD_STATE } from "../types.js";
import { BOOTSTRAP_HARD_STATE, bootstrapSnapshot, confStateAfter } from "./conf.js";
import { CompactedError, RaftUsageError, SnapshotOutOfDateError, UnavailableError } from "./errors.js";
import type { InitialState, RaftStorage } from "./storage.js";

export class MemoryStorage implements RaftStorage {
  private hard: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot;
  /** Entries snap.meta.index+1 .. lastIndex. */
  private ents: Entry[] = [];

  /**
   * `bootstrap` is the initial membership of a brand-new cluster: the storage then starts from
   * the bootstrap snapshot (see bootstrapSnapshot). A node joining an existing cluster passes
   * nothing and starts empty; the leader sends it that snapshot (or a later one).
   */
  constructor(bootstrap: ConfState = EMPTY_CONF_STATE) {
    if (bootstrap.voters.length > 0) {
      this.snap = bootstrapSnapshot(bootstrap);
      this.hard = BOOTSTRAP_HARD_STATE;
    } else {
      this.snap = { meta: { index: 0, term: 0, conf: EMPTY_CONF_STATE }, data: new Uint8Array(0) };
    }
  }

  initialState(): InitialState {
    return { hardState: this.hard, confState: this.snap.meta.conf, retired: this.snap.meta.retired };
  }

  firstIndex(): number {
    return this.snap.meta.index + 1;
  }

  lastIndex(): number {
    return this.snap.meta.index + this.ents.length;
  }

  term(i: number): number {
    const s = this.snap.meta.index;
    if (i < s) throw new CompactedError(i, s + 1);
    if (i > this.lastIndex()) throw new UnavailableError(i, this.lastIndex());
    return i === s ? this.snap.meta.term : this.ents[i - s - 1].term;
  }

  entries(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    const s = this.snap.meta.index;
    if (lo <= s) throw new CompactedError(lo, s + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - s - 1];
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  // ---- write side (the driver calls these while handling a Ready) ----

  setHardState(hs: HardState): void {
    this.hard = hs;
  }

  /** Appends entries, replacing any existing suffix from entries[0].index. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const s = this.snap.meta.index;
    const first = entries[0].index;
    if (first > this.lastIndex() + 1) {
      throw new RaftUsageError(`append at ${first} leaves a gap after last index ${this.lastIndex()}`);
    }
    // Entries at or below the snapshot are already covered by it.
    let from = 0;
    while (from < entries.length && entries[from].index <= s) from++;
    if (from === entries.length) return;
    const start = entries[from].index;
    this.ents.length = start - s - 1;
    for (let k = from; k < entries.length; k++) this.ents.push(entries[k]);
  }

  /** Replaces the whole log with `snap` (a follower installing the leader's snapshot). */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index < this.snap.meta.index) {
      throw new SnapshotOutOfDateError(snap.meta.index, this.snap.meta.index);
    }
    this.snap = snap;
    this.ents = [];
  }

  /**
   * Log compaction: records `data` (the state machine's state after applying `index`) as the
   * snapshot at `index` and discards entries up to it. The caller must have applied `index`.
   * Compacting at or below the current snapshot is a no-op (the index never goes back).
   * `retired` is what the node retired as of `index` (RaftNode.retiredAt), kept for its restart.
   */
  compact(index: number, data: Uint8Array, retired?: RetiredState): void {
    const s = this.snap.meta.index;
    if (index <= s) return;
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    const covered = this.ents.slice(0, index - s);
    const conf = confStateAfter(this.snap.meta.conf, covered);
    const term = covered[covered.length - 1].term;
    this.snap = { meta: { index, term, conf, ...(retired !== undefined ? { retired } : {}) }, data };
    this.ents = this.ents.slice(index - s);
  }

  /** Sum of entry data bytes held (for tests asserting the log stays small). */
  logBytes(): number {
    let n = 0;
    for (const e of this.ents) n += e.data.length;
    return n;
  }
}
