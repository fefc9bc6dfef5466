// Raft's safety properties (paper Figure 3), checked by the simulation after every step:
//   election safety      — at most one leader per term (ever observed);
//   log matching         — checked incrementally: every persisted (index, term) must carry the
//                          same data and the same previous-entry term on every node, which by
//                          induction means two logs agreeing on (index, term) agree on all before;
//   leader completeness  — a new leader's log holds every entry ever applied (committed);
//   state-machine safety — no two nodes apply different entries at one index; each node applies
//                          in order and never twice;
//   durable state        — a node's persisted term never decreases, its vote in a term never
//                          changes, its persisted commit never decreases;
//   membership           — the configuration a node uses is the last one in its log.

import { confStateAfter, type RaftNode, sameConf } from "../../../config/raft/core/index.js";
import type { Entry, HardState, Snapshot } from "../../../config/raft/types.js";

/** What the checker reads of a node's storage (MemoryStorage, or the real FileStorage). */
export interface LogView {
  firstIndex(): number;
  lastIndex(): number;
  term(i: number): number;
  entries(lo: number, hi: number): Entry[];
  snapshot(): Snapshot;
}

export function bytesKey(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

export class InvariantChecker {
  readonly violations: string[] = [];
  private readonly leaderOfTerm = new Map<number, string>();
  private readonly registry = new Map<string, { prevTerm: number; data: string }>();
  /** Every entry some node applied: index -> term + data. */
  /** `by`: an upper bound of the term in which the entry was committed (the applier's term). */
  readonly committed = new Map<number, { term: number; data: string; by: number }>();
  maxCommitted = 0;
  private readonly hard = new Map<string, HardState>();

  fail(msg: string): void {
    if (this.violations.length < 20) this.violations.push(msg);
  }

  get ok(): boolean {
    return this.violations.length === 0;
  }

  checkLeader(id: string, term: number): void {
    const prev = this.leaderOfTerm.get(term);
    if (prev === undefined) this.leaderOfTerm.set(term, id);
    else if (prev !== id) this.fail(`election safety: term ${term} has leaders ${prev} and ${id}`);
  }

  /** Called once when a node becomes leader: its log must contain every committed entry. */
  checkLeaderCompleteness(id: string, node: RaftNode): void {
    const first = node.status().firstIndex;
    const term = node.status().term;
    for (const [index, c] of this.committed) {
      if (index < first) continue; // covered by the node's snapshot, itself checked on persist
      // Leader completeness binds leaders of LATER terms than the commit: a candidate paused
      // with its votes in flight may legitimately win an older term after newer commits.
      if (term <= c.by) continue;
      const t = node.termAt(index);
      if (t !== c.term) {
        this.fail(
          `leader completeness: leader ${id} term ${node.status().term} has term ${t} at committed index ${index} (committed term ${c.term})`,
        );
        return;
      }
    }
  }

  /**
   * Membership in effect = the last conf entry in the log (thesis §4.1), including after a
   * truncation. Checked when the node's whole log is durable, so storage shows all of it.
   */
  checkConf(id: string, node: RaftNode, storage: LogView): void {
    const s = node.status();
    if (s.lastIndex !== storage.lastIndex() || s.firstIndex !== storage.firstIndex()) return;
    const first = storage.firstIndex();
    const ents = storage.lastIndex() >= first ? storage.entries(first, storage.lastIndex() + 1) : [];
    const want = confStateAfter(storage.snapshot().meta.conf, ents);
    if (!sameConf(want, s.conf)) {
      this.fail(`membership: ${id} uses ${JSON.stringify(s.conf)} but its log says ${JSON.stringify(want)}`);
    }
    // What it refuses is what a replay of its log gives (a restart rebuilds that).
    const live = JSON.stringify(node.retiredNow());
    const replayed = JSON.stringify(node.retiredAt(s.lastIndex));
    if (live !== replayed) this.fail(`retired directories: ${id} retires ${live}, its log ${replayed}`);
  }

  onPersistEntries(id: string, storage: LogView, entries: readonly Entry[]): void {
    for (const e of entries) {
      let prevTerm = -1;
      if (e.index - 1 >= storage.firstIndex() - 1) prevTerm = storage.term(e.index - 1);
      const key = `${e.index}:${e.term}`;
      const data = bytesKey(e.data);
      const seen = this.registry.get(key);
      if (!seen) {
        this.registry.set(key, { prevTerm, data });
        continue;
      }
      if (seen.data !== data)
        this.fail(`log matching: ${id} has different data at index ${e.index} term ${e.term}`);
      if (seen.prevTerm >= 0 && prevTerm >= 0 && seen.prevTerm !== prevTerm) {
        this.fail(
          `log matching: ${id} at index ${e.index} term ${e.term} follows term ${prevTerm}, elsewhere ${seen.prevTerm}`,
        );
      }
      if (seen.prevTerm < 0 && prevTerm >= 0) seen.prevTerm = prevTerm;
    }
  }

  onPersistSnapshot(id: string, snap: Snapshot): void {
    const c = this.committed.get(snap.meta.index);
    if (c && c.term !== snap.meta.term) {
      this.fail(
        `snapshot: ${id} got a snapshot at ${snap.meta.index} term ${snap.meta.term}, committed term ${c.term}`,
      );
    }
  }

  onHardState(id: string, hs: HardState): void {
    const prev = this.hard.get(id);
    if (prev) {
      if (hs.term < prev.term) this.fail(`durable state: ${id} term went back ${prev.term} -> ${hs.term}`);
      if (hs.term === prev.term && prev.vote !== "" && hs.vote !== prev.vote) {
        this.fail(`durable state: ${id} changed its vote in term ${hs.term}: ${prev.vote} -> ${hs.vote}`);
      }
      if (hs.commit < prev.commit)
        this.fail(`durable state: ${id} commit went back ${prev.commit} -> ${hs.commit}`);
    }
    this.hard.set(id, hs);
  }

  /** A node applies `e`; `lastApplied` is what that node had applied before. */
  onApply(id: string, e: Entry, lastApplied: number, term = Number.POSITIVE_INFINITY): void {
    if (e.index !== lastApplied + 1) {
      this.fail(
        `state machine safety: ${id} applied index ${e.index} after ${lastApplied} (out of order or twice)`,
      );
    }
    const data = bytesKey(e.data);
    const c = this.committed.get(e.index);
    if (!c) {
      this.committed.set(e.index, { term: e.term, data, by: term });
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
    } else if (term < c.by) {
      c.by = term;
    }
    if (c && (c.term !== e.term || c.data !== data)) {
      this.fail(
        `state machine safety: ${id} applied a different entry at index ${e.index} (term ${e.term} vs ${c.term})`,
      );
    }
  }
}
