// The read side of the log store, as the core sees it (after etcd's Storage). The driver owns
// the write side: it writes what a Ready says to persist, then calls advance(). Everything the
// storage returns must already be durable.
//
// Index conventions: a storage holds a snapshot at index S (S = 0 for none) and entries
// S+1..lastIndex. firstIndex() = S + 1; term(S) is the snapshot's term and must be answered.
import type { ConfState, Entry, HardState, RetiredState, Snapshot } from "../types.js";

export interface InitialState {
  readonly hardState: HardState;
  /**
   * Membership as of the snapshot (or the bootstrap membership when there is none). The core
   * derives the current membership by replaying conf entries after the snapshot.
   */
  readonly confState: ConfState;
  /** The data directories retired as of the snapshot (its meta's; none before any). */
  readonly retired?: RetiredState;
}

export interface RaftStorage {
  initialState(): InitialState;
  /**
   * Entries [lo, hi). With maxBytes, returns at least one entry and stops before the total
   * data size would exceed it. Throws CompactedError when lo < firstIndex(),
   * UnavailableError when hi > lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  /** Term of entry i for i in [firstIndex()-1, lastIndex()]; CompactedError / UnavailableError otherwise. */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The most recent snapshot. May throw SnapshotTemporarilyUnavailableError. */
  snapshot(): Snapshot;
}
