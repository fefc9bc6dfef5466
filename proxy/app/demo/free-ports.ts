// Free loopback ports, picked up front because Raft peers must be listed before any instance
// starts. A port is free when picked, not reserved: good enough for a local demo.

import { createServer } from "node:net";

function onePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** `n` distinct free ports (held open together so none is handed out twice). */
export async function freeLoopbackPorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await onePort());
  return [...out];
}
