// A node:cluster worker for test/workers/descriptor-relisten-worker.test.ts: an HTTP listener on
// the address the primary names (answering with this worker's pid), watched by a
// DescriptorLimits as proxy/workers/worker-main.ts watches its own. On the primary's word it
// meets an accept error (the event as Node emits it: the state cannot be forced from outside)
// or closes its listener, and reports what followed.

import cluster from "node:cluster";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { probeDescriptorLimits } from "./descriptor-limits-probe.js";

const host = "127.0.0.1";
const server = createServer((_req, res) => res.end(String(process.pid)));
const { limits, errors } = probeDescriptorLimits(() => 0);

function send(m: object): void {
  if (process.connected) process.send?.(m);
}

/** Bounds the wait for the re-listen (the pause is 1 s). */
const RELISTEN_WAIT_MS = 20_000;

process.on("message", (m: { t: string }) => {
  if (m.t === "accept-error") {
    const before = (server.address() as AddressInfo).port;
    server.emit(
      "error",
      Object.assign(new Error("accept EMFILE"), { code: "EMFILE", errno: -24, syscall: "accept" }),
    );
    const closed = !server.listening;
    // Listening again, or an error logged by the watcher (its re-listen failed), or time out.
    const startedAt = Date.now();
    const check = setInterval(() => {
      const done = server.listening || errors.length > 0 || Date.now() - startedAt > RELISTEN_WAIT_MS;
      if (!done) return;
      clearInterval(check);
      const after = (server.address() as AddressInfo | null)?.port;
      send({ t: "relisten", closed, listening: server.listening, before, after, errors });
    }, 20);
    return;
  }
  if (m.t === "close") server.close(() => send({ t: "closed" }));
});

server.listen(0, host, () => {
  // As worker-main.ts: listening again rejoins the shared handle as first asked (port 0).
  limits.watch(server, "listen.http", { port: 0, host });
  send({ t: "listening", port: (server.address() as AddressInfo).port, worker: cluster.worker?.id });
});
process.on("disconnect", () => {
  limits.stop();
  server.close();
  server.closeAllConnections();
});
