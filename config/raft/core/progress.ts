// The leader's view of one follower (after etcd's tracker.Progress): how far its log matches,
// what to send next, and the flow-control state:
//   probe     — one append in flight until the follower answers (we do not know where it is);
//   replicate — optimistic pipelining, bounded by a window of in-flight appends;
//   snapshot  — a snapshot is in flight; appends pause until it lands (or times out). A snapshot
//               the follower refused (snapStatus) doubles the wait before the next one is sent.

export type ProgressState = "probe" | "replicate" | "snapshot";

/** Doublings of the snapshot wait after consecutive refusals: at most 2^4 x the base wait. */
export const MAX_SNAPSHOT_BACKOFF_DOUBLINGS = 4;

/** A ring buffer of the last index of each in-flight append. */
export class Inflights {
  private readonly buf: number[];
  private start = 0;
  count = 0;

  constructor(readonly capacity: number) {
    this.buf = new Array<number>(capacity).fill(0);
  }

  full(): boolean {
    return this.count >= this.capacity;
  }

  add(lastIndex: number): void {
    this.buf[(this.start + this.count) % this.capacity] = lastIndex;
    this.count++;
  }

  /** Frees every in-flight append whose last index is <= to. */
  freeLE(to: number): void {
    while (this.count > 0 && this.buf[this.start] <= to) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
  }

  freeFirstOne(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** In probe state: an append is outstanding, wait for its answer (or a heartbeat answer). */
  probeSent = false;
  pendingSnapshot = 0;
  /** Ticks spent in snapshot state, to retry a snapshot the network lost. */
  snapshotTicks = 0;
  /**
   * Snapshots this follower refused in a row (it could not restore them, core/message.ts
   * snapStatus). Reset once it replicates: only then did a snapshot (or the log) get through.
   */
  snapshotRefusals = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = true;
  /**
   * Leader tick at which the oldest message to this member not followed by an answer from its
   * data directory was sent; -1 when every message sent was answered. A learner that left one
   * unanswered for an election timeout is not promoted (raft-node.ts promotionRefusal).
   */
  unansweredSince = -1;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  becomeProbe(): void {
    this.next =
      this.state === "snapshot" ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.state = "probe";
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = "replicate";
    this.snapshotRefusals = 0;
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeSnapshot(index: number): void {
    this.state = "snapshot";
    this.pendingSnapshot = index;
    this.snapshotTicks = 0;
    this.probeSent = false;
    this.inflights.reset();
  }

  /**
   * Ticks to stay in snapshot state before probing again (which resends a snapshot if one is
   * still needed): `base` for a snapshot not answered (lost), doubled per refusal in a row after
   * the first, capped, so a follower that keeps refusing costs a resend ever more rarely.
   */
  snapshotWait(base: number): number {
    const doublings = Math.min(Math.max(this.snapshotRefusals - 1, 0), MAX_SNAPSHOT_BACKOFF_DOUBLINGS);
    return base * 2 ** doublings;
  }

  /** The follower refused the snapshot in flight: hold off, counting from now. */
  snapshotRefused(): void {
    this.snapshotRefusals++;
    this.snapshotTicks = 0;
  }

  /**
   * The snapshot in flight never left (the transport lost it): probe from the match (the
   * snapshot says nothing about the follower), paused until a heartbeat answer shows the
   * follower is there, as etcd does after a failed snapshot.
   */
  snapshotLost(): void {
    this.pendingSnapshot = 0;
    this.becomeProbe();
    this.probeSent = true;
  }

  /** A successful append answer for `n`; false if it is stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejected append at `rejected`, with the follower's hint `hint` (last index that may
   * match). Returns false if the rejection is stale (answers an append we no longer care about).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }

  /** Records an append carrying entries up to `lastIndex` (or none: lastIndex = next - 1). */
  sentAppend(lastIndex: number, entryCount: number): void {
    if (this.state === "replicate") {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }
}
