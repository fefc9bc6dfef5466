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
// each open session, and hands the ones nghttp2 is done with to the owner, which destroys them.
// Sessions closing gracefully are asked too: while one of their streams is open nghttp2 still
// wants to read, and once none is Node destroys them itself, so one found done still holds a
// stream nghttp2 will never serve (a client sent GOAWAY, then a malformed frame: the session
// stayed open until the request timeout). The method is a Node internal: without it, or when it
// throws (caught here: a throw inside the interval would end the process), the idle timeout
// remains the bound. The same holds for shardgate's sessions to h2 members: a member's
// malformed frame left the session dead, and every stream on it (new ones too, since the session
// looked live) waited for the response timeout (30 s) before it was retried.

import type { Http2Session } from "node:http2";
import { testDurationMs } from "../test-duration.js";
import { internalMissing, internalThrew } from "./node-internals.js";

/**
 * How often the open sessions are asked (ms): a dead one is closed within this. A test that
 * watches healthy sessions outlive several sweeps shortens it (SHARDGATE_TEST_H2_DEAD_SESSION_SWEEP_MS).
 */
export const DEAD_SESSION_SWEEP_MS = testDurationMs("H2_DEAD_SESSION_SWEEP_MS", 1_000);

type Handle = { hasPendingData?: () => boolean };

export class DeadSessionSweep<S extends Http2Session> {
  private timer: ReturnType<typeof setInterval> | null = null;

  /**
   * `sessions` lists the owner's open sessions; `onDead` is called once per session found dead
   * and must destroy it (`closing`: Node had marked it closing gracefully before).
   */
  constructor(
    private readonly sessions: () => Iterable<S>,
    private readonly onDead: (session: S, closing: boolean) => void,
  ) {}

  /** Called for each new session (a client one once connected): starts the interval if it is not running. */
  watch(session: S): void {
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
    let open = 0;
    for (const s of this.sessions()) {
      open++;
      if (s.destroyed) continue;
      if (isDone(s)) this.onDead(s, s.closed);
    }
    // Stopped when no session is open; the next one starts it again.
    if (open === 0) this.close();
  };
}

/**
 * Whether nghttp2 is done with `session`. A throw from the internal (a Node whose handle changed
 * shape, or one torn down under us) counts as "not known": the session is left to the idle
 * timeout, and the throw is kept from the interval, where it would end the process.
 */
function isDone(session: Http2Session): boolean {
  try {
    return handleOf(session)?.hasPendingData?.() === false;
  } catch (err) {
    internalThrew(
      "Http2Session[kHandle].hasPendingData",
      err,
      "the idle timeout closes a session nghttp2 ended",
    );
    return false;
  }
}

let handleKey: symbol | null | undefined;

/** The session's native handle (Node's kHandle), undefined on a Node without it. */
function handleOf(session: Http2Session): Handle | undefined {
  if (handleKey === undefined) {
    handleKey = Object.getOwnPropertySymbols(session).find((s) => s.description === "kHandle") ?? null;
  }
  if (handleKey === null) return undefined;
  return (session as unknown as Record<symbol, Handle | undefined>)[handleKey];
}
