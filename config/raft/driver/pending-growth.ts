// The leader's count of how much the proposals it appended but has not applied yet may grow the
// state (RaftDriverOptions.maxStateBytes). Each proposal is checked against the applied state;
// without this, several in flight, each under the bound alone, could cross it between them. A
// proposal's growth is the exact one when the state machine measured it (encodedBytesAfter minus
// encodedBytes), else the driver's upper estimate; it is released when its entry is applied,
// all at once when the leader has applied everything it appended (so a proposal the core dropped
// after it was counted is not counted for long), and when this node stops leading.

/** Growth counted per proposal, by its envelope (proposer session and sequence number). */
export class PendingGrowth {
  private readonly byKey = new Map<string, number>();
  /** The sum of the growth counted. */
  total = 0;

  get size(): number {
    return this.byKey.size;
  }

  add(sessionHi: number, sessionLo: number, seq: number, growth: number): void {
    if (growth <= 0) return;
    const k = key(sessionHi, sessionLo, seq);
    this.total += growth - (this.byKey.get(k) ?? 0);
    this.byKey.set(k, growth);
  }

  /** The entry of that envelope was applied (or refused): its growth is in the state now. */
  release(sessionHi: number, sessionLo: number, seq: number): void {
    if (this.byKey.size === 0) return;
    const k = key(sessionHi, sessionLo, seq);
    const g = this.byKey.get(k);
    if (g === undefined) return;
    this.byKey.delete(k);
    this.total -= g;
    if (this.byKey.size === 0) this.total = 0;
  }

  clear(): void {
    this.byKey.clear();
    this.total = 0;
  }
}

const key = (hi: number, lo: number, seq: number): string => `${hi}:${lo}:${seq}`;
