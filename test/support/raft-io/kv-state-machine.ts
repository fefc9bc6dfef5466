// A tiny replicated key-value map used by the driver and process tests. Commands are JSON
// {k, v}; the snapshot is the JSON of the whole map; restore(empty) resets it.
import type { StateMachine } from "../../../config/raft/driver.js";

export class KvStateMachine implements StateMachine {
  readonly map = new Map<string, string>();
  /** Every applied index in order, to check for gaps and duplicates. */
  appliedIndexes: number[] = [];
  lastApplied = 0;

  apply(entry: { index: number; term: number; data: Uint8Array }): unknown {
    if (entry.index <= this.lastApplied)
      throw new Error(`apply out of order: ${entry.index} after ${this.lastApplied}`);
    this.lastApplied = entry.index;
    this.appliedIndexes.push(entry.index);
    const cmd = JSON.parse(Buffer.from(entry.data).toString("utf8")) as { k: string; v: string };
    this.map.set(cmd.k, cmd.v);
    return undefined;
  }

  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify({ last: this.lastApplied, map: [...this.map] }));
  }

  restore(data: Uint8Array): void {
    this.map.clear();
    this.appliedIndexes = [];
    this.lastApplied = 0;
    if (data.length === 0) return;
    const s = JSON.parse(Buffer.from(data).toString("utf8")) as { last: number; map: [string, string][] };
    for (const [k, v] of s.map) this.map.set(k, v);
    this.lastApplied = s.last;
  }
}

export function kvCommand(k: string, v: string): Uint8Array {
  return Buffer.from(JSON.stringify({ k, v }));
}
