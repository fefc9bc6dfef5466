// Writes a flood of raw HTTP/2 frames from a test's plain socket (h2-frames.ts builds them),
// bounded in frames and time, and waiting on backpressure so the flood is what the server
// reads, not what piles up in this process.

import type { Socket } from "node:net";
import { scaled } from "./wait.js";

/**
 * Writes `next(i)` frames, 100 a write, respecting backpressure, until `max` frames, the socket
 * is gone or `ms` passed (scaled). Returns how many were written.
 */
export async function pump(s: Socket, max: number, ms: number, next: (i: number) => Buffer): Promise<number> {
  const deadline = Date.now() + scaled(ms);
  let i = 0;
  while (i < max && !s.destroyed && Date.now() < deadline) {
    const batch: Buffer[] = [];
    for (let j = 0; j < 100 && i < max; j++, i++) batch.push(next(i));
    if (!s.write(Buffer.concat(batch)))
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          s.off("drain", done);
          s.off("close", done);
          resolve();
        };
        const t = setTimeout(done, 1000);
        s.once("drain", done);
        s.once("close", done);
      });
  }
  return i;
}
