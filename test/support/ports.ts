// Free loopback TCP ports picked up front. A fleet's Raft addresses must be known before any
// instance starts (each one's config lists its peers), and keeping the same HTTP and admin
// ports across a restart makes a restarted instance look like the same instance to clients.
//
// Picked below the kernel's ephemeral range (ip_local_port_range): a port from inside it,
// released and bound again later by the instance, can meanwhile become the local port of any
// outgoing connection or of a `listen(0)` anywhere on the machine (EADDRINUSE at start, or a
// restart that cannot get its port back). Below the range only another explicit picker can
// take it: each test process walks its own stretch of the range, starting from its pid.

import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";

/** Lowest port handed out (above the well-known and most registered service ports). */
const FLOOR = 10_000;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > FLOOR + 1000) return low;
  } catch {
    // Not Linux: the IANA dynamic range starts at 49152.
  }
  return 49_152;
}

const LOW = ephemeralLow();
const SPAN = LOW - FLOOR;
/** Where this process's walk starts: pids of concurrent test files land far apart. */
let next = (process.pid * 7919) % SPAN;

function tryListen(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(null));
    s.listen({ port, host: "127.0.0.1", exclusive: true }, () => resolve(s));
  });
}

/** `n` distinct ports that were free a moment ago (all held open together, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  const ports: number[] = [];
  try {
    for (let tried = 0; ports.length < n; tried++) {
      if (tried >= SPAN) throw new Error(`freePorts: no ${n} free ports in ${FLOOR}-${LOW - 1}`);
      const port = FLOOR + next;
      next = (next + 1) % SPAN;
      const s = await tryListen(port);
      if (s === null) continue;
      servers.push(s);
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
