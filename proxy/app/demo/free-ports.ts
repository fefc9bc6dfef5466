// Free loopback ports, picked up front because Raft peers must be listed before any instance
// starts. A port is free when picked, not reserved: good enough for a local demo.

import { createServer, type Server } from "node:net";

function listenAnywhere(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve(s));
  });
}

/** `n` distinct free ports: held open together while picked, so none is handed out twice. */
export async function freeLoopbackPorts(n: number): Promise<number[]> {
  const held: Server[] = [];
  try {
    for (let i = 0; i < n; i++) held.push(await listenAnywhere());
    return held.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
}
