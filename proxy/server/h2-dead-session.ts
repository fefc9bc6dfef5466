// Sessions nghttp2 ended by itself and Node kept open. On many connection errors (a PRIORITY
// frame naming its own stream, DATA on an idle stream, a PING or RST_STREAM of the wrong size,
// a frame over SETTINGS_MAX_FRAME_SIZE, a header block HPACK cannot decode) nghttp2 sends GOAWAY
// and then wants neither to read nor to write. Node stops reading the socket but only tells JS of
// errors nghttp2 calls fatal, so nothing closed it: the connection stayed open, unread, until the
// idle timeout (60 s), with the client's further bytes piling up in the kernel's receive buffer
// and its open streams hanging. RFC 9113 section 5.4.1 says the TCP connection MUST be closed
// after such a GOAWAY. Measured from a raw frame client: 13 of 34 malformed frames tried left the
// connection open that way (test/outside/h2-protocol-error-close.test.ts).
//
// Node's session handle answers hasPendingData() (nghttp2 wants to read or to write: false only
// once a GOAWAY went out or came in and nothing is left to do). One coarse, unref'd interval asks
// each open session that neither side is closing gracefully, and destroys the ones nghttp2 is
// done with. The method is a Node internal: without it the idle timeout remains the bound.

import type { ServerHttp2Session } from "node:http2";
import { internalMissing } from "./node-internals.js";

/** How often the open sessions are asked (ms): a dead one is closed within this. */
export const DEAD_SESSION_SWEEP_MS = 1_000;

type Handle = { hasPendingData?: () => boolean };

export class DeadSessionSweep {
  private timer: ReturnType<typeof setInterval> | null = null;

  /**
   * `sessions` is the listener's set of open sessions (each removed at its 'close'); `onDead` is
   * called once per session found dead, before it is destroyed.
   */
  constructor(
    private readonly sessions: ReadonlySet<ServerHttp2Session>,
    private readonly onDead: (session: ServerHttp2Session) => void,
  ) {}

  /** Called for each new session: starts the interval if it is not running. */
  watch(session: ServerHttp2Session): void {
    if (this.timer !== null) return;
    if (typeof handleOf(session)?.hasPendingData !== "function") {
      internalMissing(
        "Http2Session[kHandle].hasPendingData",
        "the idle timeout closes a session nghttp2 ended",
      );
      return;
    }
    this.timer = setInterval(this.tick, DEAD_SESSION_SWEEP_MS);
    this.timer.unref();
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private readonly tick = (): void => {
    // Stopped when no session is open; the next one starts it again.
    if (this.sessions.size === 0) {
      this.close();
      return;
    }
    for (const s of this.sessions) {
      // A session closing gracefully (ours, or after the client's GOAWAY NO_ERROR) ends by itself.
      if (s.closed || s.destroyed) continue;
      if (handleOf(s)?.hasPendingData?.() !== false) continue;
      this.onDead(s);
      s.destroy();
    }
  };
}

let handleKey: symbol | null | undefined;

/** The session's native handle (Node's kHandle), undefined on a Node without it. */
function handleOf(session: ServerHttp2Session): Handle | undefined {
  if (handleKey === undefined) {
    handleKey = Object.getOwnPropertySymbols(session).find((s) => s.description === "kHandle") ?? null;
  }
  if (handleKey === null) return undefined;
  return (session as unknown as Record<symbol, Handle | undefined>)[handleKey];
}
