// Raw TCP exchanges for tests that must send what no HTTP client would (garbage, truncated or
// slow requests): write bytes, collect the reply until the peer closes or a deadline passes.

import { connect, type Socket } from "node:net";

/**
 * Connects to 127.0.0.1:`port`, lets `send` write whatever it wants on the socket, and resolves
 * with every byte answered (latin1) once the peer closes, or after `ms` (the socket destroyed).
 */
export function rawReply(port: number, ms: number, send: (s: Socket) => void): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let got = "";
    const timer = setTimeout(() => s.destroy(), ms);
    s.on("data", (d) => {
      got += d.toString("latin1");
    });
    s.on("close", () => {
      clearTimeout(timer);
      resolve(got);
    });
    // A reset is an answer too: what arrived before it is the reply.
    s.on("error", () => {});
    send(s);
  });
}

/** Writes `payload` to 127.0.0.1:`port`, optionally ends, and resolves with the reply (latin1) at close or after `ms`. */
export function rawExchange(port: number, payload: Buffer | string, ms = 1500, end = false): Promise<string> {
  return rawReply(port, ms, (s) => {
    s.write(payload);
    if (end) s.end();
  });
}
