// Keeps an undici Pool from opening a connection for a request that was already aborted
// (undici#5845). Aborting an in-flight request destroys its socket; when that socket closes,
// undici's Client leaves the aborted request in its queue, counts it as pending again and
// connects a fresh socket for it, which then sits idle until the keep-alive timeout. Every
// client abort and every upstream timeout thus cost the member one extra connection.
//
// The chain is synchronous in undici 7: the socket's close emits `disconnect` (error
// UND_ERR_INFO "aborted") and right after calls the client's resume, which calls the
// connector. So the pool's `disconnect` listener arms a one-shot refusal, the connector
// consumes it, and a microtask disarms it if no connect followed (nothing was queued). A
// Pool's client holds at most one request with pipelining 1 (it is busy until drained), so
// the refused connect carries only the aborted request; the refusal is reported through the
// callback on a microtask, so undici errors that queue (a no-op for an aborted request),
// emits `drain` and hands the client back to the pool.

import { Socket as NetSocket, type Socket } from "node:net";
import type { Pool } from "undici";
import { buildConnector } from "undici";
import { upstreamLookup } from "../net/bounded-lookup.js";
import { readBeforeWriteError } from "./read-before-write-error.js";

const ABORTED_RECONNECT = Object.assign(new Error("reconnect for an aborted request refused"), {
  code: "UND_ERR_ABORTED",
});

export class ReconnectGuard {
  private armed = false;
  /** Connects refused so far (tests and metrics read it). */
  refused = 0;
  readonly connect: buildConnector.connector;
  private readonly inner: buildConnector.connector;

  constructor(connectTimeoutMs: number) {
    // Hostname members resolve through the bounded lookup (proxy/net/bounded-lookup.ts).
    this.inner = buildConnector({ timeout: connectTimeoutMs, lookup: upstreamLookup.lookup });
    this.connect = this.connectMethod.bind(this);
  }

  /** Listens on `pool` for the disconnects of aborted requests. */
  watch(pool: Pool): void {
    pool.on("disconnect", this.onDisconnect);
  }

  private readonly onDisconnect = (_origin: unknown, targets: unknown, err: Error | null): void => {
    const e = err as (Error & { code?: string }) | null;
    if (e === null || e.code !== "UND_ERR_INFO" || e.message !== "aborted") return;
    // targets: [pool, client]. Armed only when the client still has the aborted request
    // queued (busy with it, nothing else was dispatched to it): then the connect that follows
    // is for that request alone. Without one, no connect follows for it, and a drain could
    // hand the client a real request whose connect must not be refused.
    const client = Array.isArray(targets)
      ? (targets[targets.length - 1] as { stats?: { pending?: number } })
      : null;
    if ((client?.stats?.pending ?? 0) === 0) return;
    this.armed = true;
    queueMicrotask(this.disarm);
  };

  private readonly disarm = (): void => {
    this.armed = false;
  };

  private readonly refuse = (callback: buildConnector.Callback): void => {
    callback(ABORTED_RECONNECT, null);
  };

  private connectMethod(options: buildConnector.Options, callback: buildConnector.Callback): void {
    if (this.armed) {
      this.armed = false;
      this.refused++;
      queueMicrotask(() => this.refuse(callback));
      return;
    }
    // undici's connector returns the socket it made (its type says void): a response the
    // upstream sent before resetting is read before a body write's error ends the socket.
    const socket = (this.inner as unknown as (o: unknown, c: unknown) => Socket | undefined)(
      options,
      callback,
    );
    if (socket?.constructor === NetSocket) readBeforeWriteError(socket);
  }
}
