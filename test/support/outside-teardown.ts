// The after() of a file that tries shardgate processes from the outside: its client sockets
// first (so no process spends its drain deadline on them), then every process, then the plain
// HTTP member behind them and the temp directory its certificates or data lived in.

import { rmSync } from "node:fs";
import type { Server } from "node:http";
import { stopAll } from "./shardgate-process.js";

export interface OutsideLeftovers {
  /** Client sockets the file opened; destroyed before the processes stop. */
  sockets?: Iterable<{ destroy(): void }>;
  /** The member the processes forwarded to (undefined when the file never started it). */
  member?: Server;
  /** The temp directory to remove (undefined when the file never made it). */
  dir?: string;
}

export async function tearDownOutside(left: OutsideLeftovers): Promise<void> {
  for (const s of left.sockets ?? []) s.destroy();
  await stopAll();
  const member = left.member;
  if (member !== undefined) {
    // Keep-alive connections from the processes would hold close() open.
    member.closeAllConnections();
    await new Promise<void>((resolve) => member.close(() => resolve()));
  }
  if (left.dir !== undefined) rmSync(left.dir, { recursive: true, force: true });
}
