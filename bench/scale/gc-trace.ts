// GC figures of a process started with node's --trace-gc, read from the log it writes to
// stdout: one line per collection, "... Scavenge 40.8 (66.5) -> 27.9 (66.5) MB, 1.05 / 0.00 ms
// ..." or "... Mark-Compact ...". The request rows read GC this way rather than from
// shardgate's /metrics: at 10,000 members a scrape is ~115,000 lines (9 MB) that hold the
// event loop for a second or more and leave their garbage to the round that follows, a cost
// the bench would add to the large pool only, between and into its rounds.

import { closeSync, openSync, readSync, statSync } from "node:fs";

export interface GcTotals {
  /** Main-thread pause of every collection, seconds. */
  seconds: number;
  /** Pause of mark-compacts (major collections), seconds. */
  majorSeconds: number;
  major: number;
  minor: number;
}

const LINE = /(Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Sweep)\b[^\n]*?MB, ([0-9.]+) \/ [0-9.]+ ms/;

/** Reads a --trace-gc log from a byte offset on, keeping the running totals. */
export class GcTraceReader {
  private offset = 0;
  private partial = "";
  readonly totals: GcTotals = { seconds: 0, majorSeconds: 0, major: 0, minor: 0 };

  constructor(private readonly path: string) {}

  /** Takes in the lines written since the last call; returns the totals so far (a copy). */
  read(): GcTotals {
    const size = statSync(this.path).size;
    if (size > this.offset) {
      const buf = Buffer.alloc(size - this.offset);
      const fd = openSync(this.path, "r");
      try {
        readSync(fd, buf, 0, buf.length, this.offset);
      } finally {
        closeSync(fd);
      }
      this.offset = size;
      const lines = (this.partial + buf.toString("latin1")).split("\n");
      this.partial = lines.pop() ?? "";
      for (const line of lines) {
        const m = LINE.exec(line);
        if (m === null) continue;
        const pause = Number(m[2]) / 1000;
        this.totals.seconds += pause;
        if (m[1] === "Scavenge" || m[1] === "Minor Mark-Sweep") this.totals.minor++;
        else {
          this.totals.major++;
          this.totals.majorSeconds += pause;
        }
      }
    }
    return { ...this.totals };
  }
}
