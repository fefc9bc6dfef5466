// Graceful shutdown: stop accepting, let in-flight requests finish up to the drain deadline,
// then close everything, the Raft node last (so the fleet sees this node leave only once it
// serves nothing).

import type { Server } from "node:http";
import type { Logger } from "pino";
import type { ClusterNode } from "../cluster/cluster-node.js";
import type { DataPlane } from "../forward/types.js";
import { endKeepAlive } from "../server/connection-cap.js";
import { errorText } from "./errors.js";

export interface ShutdownParts {
  logger: Logger;
  dataPlane: DataPlane;
  proxyServer: Server;
  /** Absent in a data-plane worker (the primary serves the admin API). */
  adminServer?: Server;
  /** Absent in a data-plane worker (the primary owns the Raft node). */
  cluster?: Pick<ClusterNode, "stop">;
  drainTimeoutMs: number;
  flushLogs(): void;
  /** Closes the edge features' store client (Redis), after the last request. */
  closeEdge?: () => Promise<void>;
}

/** How long an upgraded (websocket) socket may hold the exit after the drain. */
const LINGER_MS = 1_000;
const DRAIN_POLL_MS = 20;

export async function drainAndClose(p: ShutdownParts, reason: string): Promise<void> {
  const { logger, dataPlane, proxyServer, adminServer } = p;
  const deadlineMs = p.drainTimeoutMs;
  const started = performance.now();
  logger.info(
    { reason, inFlight: dataPlane.inFlight(), drainTimeoutMs: deadlineMs },
    "shutting down: draining",
  );
  // Responses from now on say `Connection: close`: a client must not send its next request on
  // a connection the loop below is about to close as idle (connection-cap.ts endKeepAlive).
  endKeepAlive(proxyServer);
  const closed = new Promise<void>((r) => proxyServer.close(() => r()));
  // Keep-alive connections that are between requests are closed at once, and again as
  // each in-flight response completes, so clients reconnect elsewhere instead of waiting.
  while (dataPlane.inFlight() > 0 && performance.now() - started < deadlineMs) {
    proxyServer.closeIdleConnections();
    await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
  }
  const left = dataPlane.inFlight();
  if (left > 0)
    logger.warn({ inFlight: left, drainTimeoutMs: deadlineMs }, "drain deadline reached; cutting requests");
  // The data plane first: it answers each request still waiting for its member 503
  // shutting_down. Node sends an answer's bytes a tick after end() (the socket is corked until
  // then), so the connections are closed after that tick, not in the same turn.
  dataPlane.close();
  await new Promise((r) => setImmediate(r));
  proxyServer.closeAllConnections();
  await p.closeEdge?.().catch((err: unknown) => logger.warn({ err: errorText(err) }, "edge close failed"));
  // Upgraded (websocket) sockets are outside the server's connection tracking, so
  // closeAllConnections does not end them; the data plane's close destroys them (both sides).
  // A cut request ends on its socket's 'close', which comes after the server's own close: wait
  // for those ends (their access lines are written there), bounded: a socket that lingers
  // must not hold the exit.
  const cutAt = performance.now();
  while (dataPlane.inFlight() > 0 && performance.now() - cutAt < LINGER_MS)
    await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
  let lingering: NodeJS.Timeout | undefined;
  const rest = Math.max(0, LINGER_MS - (performance.now() - cutAt));
  await Promise.race([closed, new Promise<void>((r) => (lingering = setTimeout(r, rest)))]);
  clearTimeout(lingering);
  if (adminServer !== undefined) {
    adminServer.closeAllConnections();
    await new Promise<void>((r) => adminServer.close(() => r()));
  }
  await p.cluster?.stop().catch((err: unknown) => logger.warn({ err: errorText(err) }, "raft stop failed"));
  logger.info({ reason, drainedMs: Math.round(performance.now() - started), cut: left }, "shutdown complete");
  p.flushLogs();
}
