// The leader's log of snapshots its followers refused (snapStatus, core/message.ts): one line
// per peer per backoff step, and past the cap (32 election timeouts) one per interval, instead
// of one per refusal. A follower that keeps refusing while the leader keeps taking snapshots is
// answered a resend at each one (a newer snapshot skips the backoff), so a line per refusal
// would follow the write rate. The caller counts every refusal; a line says how many went unsaid
// since the last. Keys are member ids (the core answers only for peers it tracks): bounded.

/**
 * The codes a follower's driver names when it refuses a snapshot (driver.ts snapshotRefusal),
 * and "other" for whatever else a peer sends (up to 64 bytes of its text): what the leader
 * counts them by, so a metric label keeps a bounded set of values.
 */
export const SNAPSHOT_REFUSAL_CODES = ["bad_snapshot", "cluster_mismatch", "other"] as const;
export type SnapshotRefusalCode = (typeof SNAPSHOT_REFUSAL_CODES)[number];

/** The counted code of a reason a peer's snapStatus named. */
export function snapshotRefusalCode(reason: string): SnapshotRefusalCode {
  return reason === "bad_snapshot" || reason === "cluster_mismatch" ? reason : "other";
}

interface PeerLine {
  retryMs: number;
  at: number;
  unsaid: number;
}

export class SnapshotRefusalLog {
  private readonly last = new Map<string, PeerLine>();

  constructor(
    private readonly intervalMs: number,
    private readonly write: (line: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `peer` left the configuration: its line state goes with it. */
  forget(peer: string): void {
    this.last.delete(peer);
  }

  /** `peer` refused snapshot `index` (code `reason`); the leader waits `retryMs` before the next. */
  note(peer: string, index: number, reason: string, retryMs: number): void {
    const t = this.now();
    const prev = this.last.get(peer);
    if (prev !== undefined && prev.retryMs === retryMs && t - prev.at < this.intervalMs) {
      prev.unsaid++;
      return;
    }
    const more = prev !== undefined && prev.unsaid > 0 ? ` (${prev.unsaid} more since the last line)` : "";
    this.last.set(peer, { retryMs, at: t, unsaid: 0 });
    this.write(
      `${peer} refused snapshot ${index} (code ${reason || "unknown"}): it could not restore it; next attempt in ${retryMs} ms, or at the next snapshot taken${more}`,
    );
  }
}
