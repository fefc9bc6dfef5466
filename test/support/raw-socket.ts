// Raw TCP exchanges for tests that must send what no HTTP client would (garbage, truncated or
// slow requests): write bytes, collect the reply until the peer closes or a deadline passes.

import { connect, type Socket } from "node:net";
import { scaled } from "./wait.js";

/**
 * Connects to 127.0.0.1:`port`, lets `send` write whatever it wants on the socket, and resolves
 * with every byte answered (latin1) and whether the peer closed the connection (false: `ms`
 * passed first and the socket was destroyed here). `ms` is a base deadline, scaled by
 * TEST_TIME_SCALE like every wait (wait.ts `scaled`).
 */
export function rawSession(
  port: number,
  ms: number,
  send: (s: Socket) => void,
): Promise<{ reply: string; closedByPeer: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let reply = "";
    let closedByPeer = true;
    const timer = setTimeout(() => {
      closedByPeer = false;
      s.destroy();
    }, scaled(ms));
    s.on("data", (d) => {
      reply += d.toString("latin1");
    });
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ reply, closedByPeer });
    });
    // A reset is an answer too: what arrived before it is the reply.
    s.on("error", () => {});
    send(s);
  });
}

/** rawSession's reply alone: every byte answered once the peer closes, or after `ms`. */
export async function rawReply(port: number, ms: number, send: (s: Socket) => void): Promise<string> {
  return (await rawSession(port, ms, send)).reply;
}

/** Writes `payload` to 127.0.0.1:`port`, optionally ends, and resolves with the reply (latin1) at close or after `ms`. */
export function rawExchange(port: number, payload: Buffer | string, ms = 1500, end = false): Promise<string> {
  return rawReply(port, ms, (s) => {
    s.write(payload);
    if (end) s.end();
  });
}

/**
 * The status of a raw HTTP/1.1 reply and the `error` code of its JSON body (shardgate's own
 * answers carry one); a body that is not JSON gives a note quoting its start instead.
 */
export function statusAndError(reply: string): { status: number; error: unknown } {
  const status = Number(reply.slice(9, 12));
  const body = reply.slice(reply.indexOf("\r\n\r\n") + 4);
  let error: unknown;
  try {
    error = (JSON.parse(body) as { error?: unknown }).error;
  } catch {
    error = `(no JSON body: ${JSON.stringify(body.slice(0, 80))})`;
  }
  return { status, error };
}
