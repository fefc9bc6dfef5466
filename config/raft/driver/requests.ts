// The driver's outstanding requests, each a promise with a deadline: proposals (found again
// by session sequence when applied, since a forwarded proposal's index is unknown), conf
// changes (by index), ReadIndex reads (issued in batches, then waiting for the apply index)
// and leadership transfers. Leader changes, timeouts and stop settle them.
// Deadlines are on the monotonic clock (performance.now()): a wall clock stepped back (NTP, a
// resumed VM, `date -s`) would hold a request for the length of the step, one stepped forward
// would fail every pending request at the next tick.
import type { Role } from "../core/index.js";
import type { NodeId } from "../types.js";
import { DriverError } from "./errors.js";

interface Pending {
  resolve: (index: number) => void;
  reject: (err: Error) => void;
  deadline: number;
  /** Leader the proposal went to ("" = this node as leader). */
  via: NodeId;
  index: number;
}

interface ConfPending {
  term: number;
  resolve: (index: number) => void;
  reject: (err: Error) => void;
  deadline: number;
}

export interface ReadWaiter {
  resolve: (index: number) => void;
  reject: (err: Error) => void;
  deadline: number;
}

interface Transfer {
  to: NodeId;
  resolve: () => void;
  reject: (e: Error) => void;
  deadline: number;
  /** When the request is made again if `to` does not lead by then. */
  retryAt: number;
}

export class RequestTracker {
  private readonly pending = new Map<number, Pending>();
  private readonly byIndex = new Map<number, number>();
  private readonly confPending = new Map<number, ConfPending>();
  private readBatch: ReadWaiter[] = [];
  private readonly readsIssued = new Map<number, ReadWaiter[]>();
  private readsWaiting: { index: number; waiters: ReadWaiter[] }[] = [];
  private readonly transfers: Transfer[] = [];

  constructor(
    private readonly self: NodeId,
    private readonly timeoutMs: number,
  ) {}

  // ---------------------------------------------------------------- proposals

  /** Tracks proposal `seq`; `via` is the leader it was forwarded to ("" = appended here at `index`). */
  addProposal(seq: number, via: NodeId, index: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, deadline: performance.now() + this.timeoutMs, via, index });
      if (via === "") this.byIndex.set(index, seq);
    });
  }

  /** The sequence of this node's proposal appended at `index` (forgets the mapping), if any. */
  takeIndex(index: number): number | undefined {
    const seq = this.byIndex.get(index);
    if (seq !== undefined) this.byIndex.delete(index);
    return seq;
  }

  settleProposal(seq: number, index: number, failure: Error | null): void {
    const p = this.pending.get(seq);
    if (p === undefined) return;
    this.pending.delete(seq);
    if (failure) p.reject(failure);
    else p.resolve(index);
  }

  rejectProposal(seq: number, err: Error): void {
    const p = this.pending.get(seq);
    if (p === undefined) return;
    this.pending.delete(seq);
    p.reject(err);
  }

  /** A snapshot replaced the log up to `index`: this node's proposals there have an unknown outcome. */
  rejectCoveredBy(index: number): void {
    for (const [i, seq] of this.byIndex) {
      if (i > index) continue;
      this.byIndex.delete(i);
      this.rejectProposal(
        seq,
        new DriverError("LEADERSHIP_LOST", "replaced by a snapshot from the leader; outcome unknown"),
      );
    }
  }

  // ---------------------------------------------------------------- conf changes

  addConf(index: number, term: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.confPending.set(index, { term, resolve, reject, deadline: performance.now() + this.timeoutMs });
    });
  }

  /** The conf entry at `index` (of `term`) was applied. */
  settleConf(index: number, term: number): void {
    const c = this.confPending.get(index);
    if (c === undefined) return;
    this.confPending.delete(index);
    if (c.term === term) c.resolve(index);
    else c.reject(new DriverError("LEADERSHIP_LOST", "conf change was overwritten by a new leader"));
  }

  // ---------------------------------------------------------------- reads

  /** Queues a read; true when it is the first of a new batch (the caller schedules issuing it). */
  /** This node's proposals awaiting their outcome. */
  get pendingProposals(): number {
    return this.pending.size;
  }

  /** This node's reads queued or awaiting confirmation. */
  get pendingReads(): number {
    let n = this.readBatch.length;
    for (const b of this.readsIssued.values()) n += b.length;
    return n;
  }

  queueRead(resolve: (index: number) => void, reject: (err: Error) => void): boolean {
    this.readBatch.push({ resolve, reject, deadline: performance.now() + this.timeoutMs });
    return this.readBatch.length === 1;
  }

  takeReadBatch(): ReadWaiter[] {
    const batch = this.readBatch;
    this.readBatch = [];
    return batch;
  }

  readIssued(key: number, batch: ReadWaiter[]): void {
    this.readsIssued.set(key, batch);
  }

  /** The leader confirmed read `key` at `index`; its waiters now wait for the apply index. */
  readConfirmed(key: number, index: number): void {
    const waiters = this.readsIssued.get(key);
    if (waiters === undefined) return;
    this.readsIssued.delete(key);
    this.readsWaiting.push({ index, waiters });
  }

  serveReads(applied: number): void {
    if (this.readsWaiting.length === 0) return;
    const keep: { index: number; waiters: ReadWaiter[] }[] = [];
    for (const r of this.readsWaiting) {
      if (r.index <= applied) for (const w of r.waiters) w.resolve(r.index);
      else keep.push(r);
    }
    this.readsWaiting = keep;
  }

  // ---------------------------------------------------------------- leadership transfers

  /** `retryMs`: how long one attempt may take before transfersDue names it again. */
  addTransfer(to: NodeId, timeoutMs: number, retryMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const now = performance.now();
      this.transfers.push({ to, resolve, reject, deadline: now + timeoutMs, retryAt: now + retryMs });
    });
  }

  /**
   * The targets of pending transfers whose attempt is older than `retryMs` (each named once,
   * however many callers wait on it). Raft gives a transfer one election timeout; on a slow or
   * busy machine the transferee may miss it, and the caller's wait is longer than that.
   */
  transfersDue(now: number, retryMs: number): NodeId[] {
    const due: NodeId[] = [];
    for (const tr of this.transfers) {
      if (tr.retryAt > now) continue;
      tr.retryAt = now + retryMs;
      if (!due.includes(tr.to)) due.push(tr.to);
    }
    return due;
  }

  /** Rejects every pending transfer to `to` (it can no longer lead: not a voter any more). */
  rejectTransfers(to: NodeId, err: Error): void {
    for (let i = this.transfers.length - 1; i >= 0; i--) {
      if (this.transfers[i].to !== to) continue;
      this.transfers[i].reject(err);
      this.transfers.splice(i, 1);
    }
  }

  // ---------------------------------------------------------------- settling in bulk

  /** The leader or this node's role changed: settle what depended on the old one. */
  onLeaderChange(role: Role, lead: NodeId): void {
    // Proposals that went through a leader we no longer follow may or may not commit.
    for (const [seq, p] of this.pending) {
      const via = p.via === "" ? this.self : p.via;
      if (via !== lead || (p.via === "" && role !== "leader")) {
        this.pending.delete(seq);
        if (p.index > 0) this.byIndex.delete(p.index);
        p.reject(
          new DriverError("LEADERSHIP_LOST", `leader changed (now ${lead || "none"}); outcome unknown`, lead),
        );
      }
    }
    if (role !== "leader") {
      for (const [i, c] of this.confPending) {
        this.confPending.delete(i);
        c.reject(new DriverError("LEADERSHIP_LOST", "leadership lost; conf change outcome unknown", lead));
      }
    }
    for (const [key, ws] of this.readsIssued) {
      this.readsIssued.delete(key);
      for (const w of ws)
        w.reject(new DriverError("LEADERSHIP_LOST", "leader changed during a read; retry", lead));
    }
    for (let i = this.transfers.length - 1; i >= 0; i--) {
      if (this.transfers[i].to === lead) {
        this.transfers[i].resolve();
        this.transfers.splice(i, 1);
      }
    }
  }

  sweepTimeouts(now: number, lead: NodeId): void {
    // Every map is in insertion order with one fixed timeout, so deadlines ascend.
    for (const [seq, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(seq);
      if (p.index > 0) this.byIndex.delete(p.index);
      p.reject(
        new DriverError("TIMEOUT", `proposal not applied within ${this.timeoutMs} ms; outcome unknown`, lead),
      );
    }
    for (const [i, c] of this.confPending) {
      if (c.deadline > now) break;
      this.confPending.delete(i);
      c.reject(new DriverError("TIMEOUT", `conf change not applied within ${this.timeoutMs} ms`, lead));
    }
    for (const [key, ws] of this.readsIssued) {
      if (ws[0].deadline > now) break;
      this.readsIssued.delete(key);
      for (const w of ws)
        w.reject(new DriverError("TIMEOUT", `read not confirmed within ${this.timeoutMs} ms`, lead));
    }
    if (this.readsWaiting.length > 0 && this.readsWaiting[0].waiters[0].deadline <= now) {
      const keep: { index: number; waiters: ReadWaiter[] }[] = [];
      for (const r of this.readsWaiting) {
        if (r.waiters[0].deadline > now) keep.push(r);
        else
          for (const w of r.waiters)
            w.reject(new DriverError("TIMEOUT", "read index not applied in time", lead));
      }
      this.readsWaiting = keep;
    }
    for (let i = this.transfers.length - 1; i >= 0; i--) {
      const tr = this.transfers[i];
      if (tr.deadline > now) continue;
      this.transfers.splice(i, 1);
      tr.reject(new DriverError("TIMEOUT", `leadership did not move to ${tr.to} in time`, lead));
    }
  }

  failAll(err: DriverError): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.byIndex.clear();
    for (const c of this.confPending.values()) c.reject(err);
    this.confPending.clear();
    for (const ws of this.readsIssued.values()) for (const w of ws) w.reject(err);
    this.readsIssued.clear();
    for (const r of this.readsWaiting) for (const w of r.waiters) w.reject(err);
    this.readsWaiting = [];
    for (const w of this.readBatch) w.reject(err);
    this.readBatch = [];
    for (const t of this.transfers) t.reject(err);
    this.transfers.length = 0;
  }
}
