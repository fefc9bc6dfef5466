// One request on a raw client connection that stays open, read to the end of its answer
// (head and Content-Length body): the local-limit tries (fd-limit-*.test.ts,
// port-exhaustion-driver.ts) ask on connections opened before the limit was reached.

import type { Socket } from "node:net";
import { scaled } from "./wait.js";

/** A keyed GET to /at-limit. */
export const GET_AT_LIMIT = "GET /at-limit HTTP/1.1\r\nhost: t\r\nx-user-id: k\r\n\r\n";
/** A keyed WebSocket upgrade offer to /ws. */
export const UPGRADE_AT_LIMIT =
  "GET /ws HTTP/1.1\r\nhost: t\r\nx-user-id: k\r\nconnection: Upgrade\r\nupgrade: websocket\r\n" +
  "sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/** Sends `request` on `s`; resolves with the whole answer, or "closed" if none came before the close. */
export function askRaw(s: Socket, request: string, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(
      () => reject(new Error(`no answer within ${scaled(ms)}ms: ${JSON.stringify(text)}`)),
      scaled(ms),
    );
    const finish = (v: string) => {
      clearTimeout(timer);
      s.off("data", onData);
      s.off("close", onClose);
      resolve(v);
    };
    const onClose = () => finish(text === "" ? "closed" : text);
    const onData = (d: Buffer) => {
      text += d.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return;
      const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
      if (len !== null && text.length >= end + 4 + Number(len[1])) finish(text);
    };
    s.on("data", onData);
    s.once("close", onClose);
    s.write(request);
  });
}
