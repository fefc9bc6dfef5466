// Free loopback TCP ports picked up front. A fleet's Raft addresses must be known before any
// instance starts (each one's config lists its peers), and keeping the same HTTP and admin
// ports across a restart makes a restarted instance look like the same instance to clients.

import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";

/** `n` distinct ports that were free a moment ago (all held open together, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => resolve());
      });
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
