// The leader's count of how much the proposals it appended but has not applied yet may grow the
// state (RaftDriverOptions.maxStateBytes). Each proposal is checked against the applied state;
// without this, several in flight, each under the bound alone, could cross it between them. A
// proposal's growth is the exact one when the state machine measured it (encodedBytesAfter minus
// encodedBytes), else the driver's upper estimate, kept with the command so that near the bound
// it can be measured instead (refine: the estimate alone would crowd out proposals that fit). It
// is released when its entry is applied; all at once when the leader has applied everything it
// appended (so a proposal the core dropped after it was counted is not counted for long), and
// when this node stops leading.

interface Counted {
  growth: number;
  /** The command, while `growth` is only the upper estimate. */
  command: Uint8Array | null;
}

/** Growth counted per proposal, by its envelope (proposer session and sequence number). */
export class PendingGrowth {
  private readonly byKey = new Map<string, Counted>();
  /** Entries whose growth is an estimate. */
  private estimates = 0;
  /** The sum of the growth counted. */
  total = 0;

  get size(): number {
    return this.byKey.size;
  }

  /** Whether some growth counted is only an estimate (refine can measure it). */
  get estimated(): boolean {
    return this.estimates > 0;
  }

  /** Counts `growth` for the proposal; with `command`, growth is an estimate refine may replace. */
  add(sessionHi: number, sessionLo: number, seq: number, growth: number, command: Uint8Array | null): void {
    if (growth <= 0) return;
    const k = key(sessionHi, sessionLo, seq);
    this.forget(this.byKey.get(k));
    this.byKey.set(k, { growth, command });
    this.total += growth;
    if (command !== null) this.estimates++;
  }

  /** The entry of that envelope was applied (or refused): its growth is in the state now. */
  release(sessionHi: number, sessionLo: number, seq: number): void {
    if (this.byKey.size === 0) return;
    const k = key(sessionHi, sessionLo, seq);
    const c = this.byKey.get(k);
    if (c === undefined) return;
    this.byKey.delete(k);
    this.forget(c);
    if (this.byKey.size === 0) this.clear();
  }

  /** Replaces every estimate by `measure(command)` (undefined: keep the estimate). */
  refine(measure: (command: Uint8Array) => number | undefined): void {
    if (this.estimates === 0) return;
    for (const c of this.byKey.values()) {
      if (c.command === null) continue;
      const g = measure(c.command);
      c.command = null;
      this.estimates--;
      if (g === undefined) continue;
      this.total += Math.max(0, g) - c.growth;
      c.growth = Math.max(0, g);
    }
  }

  clear(): void {
    this.byKey.clear();
    this.estimates = 0;
    this.total = 0;
  }

  private forget(c: Counted | undefined): void {
    if (c === undefined) return;
    this.total -= c.growth;
    if (c.command !== null) this.estimates--;
  }
}

const key = (hi: number, lo: number, seq: number): string => `${hi}:${lo}:${seq}`;
