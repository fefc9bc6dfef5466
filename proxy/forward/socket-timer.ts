// One idle timer per client connection, re-targeted instead of re-created. Node's HTTP/1 server
// moves a keep-alive socket between two timeouts on every request: after a response it calls
// socket.setTimeout(keepAlive + 1 s), on the next request's head socket.setTimeout(server.timeout)
// (listen.timeouts.idle). Each call clears the socket's Timeout and allocates a new one plus a
// bound callback: two timer objects per request, one of them a cost bare forwarders without an
// idle timeout do not pay. A socket given `reuseSocketTimer` keeps its one Timeout: the duration
// is changed and the timer refreshed, which relinks it at the tail of Node's list for that
// duration (O(1), the per-duration FIFO lists undici's fast timers and nginx's timer tree also
// rely on). Same callback, same deadline, same unref'd timer: the semantics are Node's own.
// Anything out of the ordinary (a callback argument, 0 to clear, a timer already cleared, a
// value Node would have to validate) goes to Node's own setTimeout.

import { Socket } from "node:net";

interface NodeTimer {
  _idleTimeout: number;
  refresh(): unknown;
}

/** The largest delay Node's timers take as given (2^31 - 1 ms). */
const TIMEOUT_MAX = 2 ** 31 - 1;

/** The symbol under which a net.Socket keeps its Timeout (Node's internal kTimeout), found once. */
let kTimeout: symbol | null | undefined;

function timeoutSymbol(socket: object): symbol | null {
  if (kTimeout !== undefined) return kTimeout;
  kTimeout = null;
  for (const s of Object.getOwnPropertySymbols(socket))
    if (s.description === "timeout") {
      const v = (socket as Record<symbol, unknown>)[s];
      if (v === null || isTimer(v)) kTimeout = s;
      break;
    }
  return kTimeout;
}

function isTimer(v: unknown): v is NodeTimer {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as NodeTimer)._idleTimeout === "number" &&
    typeof (v as NodeTimer).refresh === "function"
  );
}

/** Node's own (net.Socket's; tls.TLSSocket inherits it). */
const nodeSetTimeout = Socket.prototype.setTimeout;

/** A socket's setTimeout that re-targets its existing timer (shared: `this` is the socket). */
function retargetTimeout(this: Socket, msecs: number, callback?: () => void): Socket {
  const k = kTimeout;
  if (
    callback === undefined &&
    k !== null &&
    k !== undefined &&
    typeof msecs === "number" &&
    msecs >= 1 &&
    msecs <= TIMEOUT_MAX &&
    !this.destroyed
  ) {
    const t = (this as unknown as Record<symbol, unknown>)[k];
    // A live or fired timer (a cleared one has _idleTimeout -1): give it the new duration.
    if (isTimer(t) && t._idleTimeout > 0) {
      (this as { timeout?: number }).timeout = msecs;
      t._idleTimeout = msecs;
      t.refresh();
      return this;
    }
  }
  return nodeSetTimeout.call(this, msecs, callback);
}

/**
 * Gives an HTTP/1 client socket the re-targeting setTimeout (idempotent; one own property per
 * connection). Not for sockets an HTTP/2 session owns: Node's session timer reads the socket's.
 */
export function reuseSocketTimer(socket: Socket): void {
  // Only a net.Socket (TLS ones included) whose setTimeout is Node's own and whose timer Node
  // keeps where expected (every net.Socket has the slot from its constructor on).
  if (socket.setTimeout !== nodeSetTimeout || !(socket instanceof Socket) || timeoutSymbol(socket) === null)
    return;
  socket.setTimeout = retargetTimeout as Socket["setTimeout"];
}
