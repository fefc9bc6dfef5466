// A raw HTTP/1 client whose request body never ends: it writes as fast as the connection takes
// it, with its read side paused until `readAfterBytes` are written, and allowHalfOpen so the
// server's FIN (after an early answer) does not stop it. What it measures is how much it got to
// send before the server closed the connection: the bound on what a closing connection reads
// (linger-close.ts, admin overflow-close.ts) shows as a bound on `sent`.

import { connect, type Socket } from "node:net";

export interface EndlessUpload {
  port: number;
  /** The request head, with its Content-Length or chunked Transfer-Encoding, ending in CRLF CRLF. */
  head: string;
  /** Frame each piece as a chunk (the head says chunked). */
  chunked: boolean;
  /** Body bytes per write. */
  pieceBytes: number;
  /** The client reads once it has written this much (then `midway` is called). */
  readAfterBytes: number;
  /** The client stops writing after this much (a bound on the flood itself). */
  maxBytes: number;
  /** Destroy the socket after this many ms (closedBy says "client gave up"). */
  giveUpMs: number;
  midway?: () => void;
}

export interface UploadResult {
  /** Everything read (latin1). */
  reply: string;
  /** Bytes handed to the kernel, head excluded. */
  sent: number;
  ms: number;
  /** "server", "server (ECONNRESET)" and the like, or "client gave up". */
  closedBy: string;
}

/** Sends `o.head` then a body without end to 127.0.0.1:`o.port`; resolves once the connection is closed. */
export function endlessUpload(o: EndlessUpload): Promise<UploadResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s: Socket = connect({ port: o.port, host: "127.0.0.1", allowHalfOpen: true });
    s.pause();
    let reply = "";
    let sent = 0;
    let closedBy = "server";
    let half = false;
    const giveUp = setTimeout(() => {
      closedBy = "client gave up";
      s.destroy();
    }, o.giveUpMs);
    s.on("error", (e: NodeJS.ErrnoException) => {
      if (closedBy === "server") closedBy = `server (${e.code ?? e.message})`;
      s.resume();
    });
    s.on("data", (d: Buffer) => {
      reply += d.toString("latin1");
    });
    s.on("end", () => {
      s.resume();
    });
    s.on("close", () => {
      clearTimeout(giveUp);
      resolve({ reply, sent, ms: Date.now() - started, closedBy });
    });
    s.write(o.head);
    const data = Buffer.alloc(o.pieceBytes, 0x61);
    const piece = o.chunked
      ? Buffer.concat([Buffer.from(`${o.pieceBytes.toString(16)}\r\n`), data, Buffer.from("\r\n")])
      : data;
    const pump = (): void => {
      while (!s.destroyed && sent < o.maxBytes) {
        sent += piece.length;
        if (sent >= o.readAfterBytes && !half) {
          half = true;
          s.resume();
          o.midway?.();
        }
        if (!s.write(piece)) return;
      }
    };
    s.on("drain", pump);
    pump();
  });
}
