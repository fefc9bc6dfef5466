// A raw HTTP/1 client that uploads the way curl and most upload code do: it sends the head and
// the whole body with its read side paused, and reads the answer only once its last write is
// handed to the kernel, and ends its write side once it has read some of the answer. A server that
// answers early and then closes with the client's bytes unread makes the kernel send RST, and
// such a client sees a reset or nothing: the lingering close tests
// (test/outside/*-lingering-close.test.ts) count the answers it lost.
//
// Not before the answer: a FIN with the request unanswered is the client leaving under the
// listener's default (listen.clientHalfClose: abort, nginx's and Envoy's), and shardgate rightly
// cut the request (499). The client ended its write side right after its last write, and on a
// loaded machine (or behind the slower TLS listener) the upstream's early answer reached
// shardgate after that FIN: about 1 round in 600, read as "the answer was lost".

import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { scaled } from "./wait.js";

export interface LateRead {
  /** Everything read (latin1); empty when the answer was lost. */
  reply: string;
  /** The socket's first error code ("client gave up" when `giveUpMs` passed first); "" if none. */
  writeError: string;
}

export interface LateReadOptions {
  port: number;
  head: string;
  /** Body bytes sent after the head. */
  size: number;
  /** Connect with TLS, trusting this CA (PEM). */
  tlsCa?: Buffer;
  /** Give up (destroy the socket) after this many ms, scaled; default 60 s. */
  giveUpMs?: number;
}

/** Sends `head` and `size` body bytes to 127.0.0.1:`port`, reads only after the last write; resolves on close. */
export function uploadThenRead(o: LateReadOptions): Promise<LateRead> {
  return new Promise((resolve) => {
    const s: Socket =
      o.tlsCa !== undefined
        ? tlsConnect({ port: o.port, host: "127.0.0.1", ca: o.tlsCa })
        : connect({ port: o.port, host: "127.0.0.1" });
    s.pause();
    let reply = "";
    let writeError = "";
    const timer = setTimeout(
      () => {
        writeError ||= "client gave up";
        s.destroy();
      },
      scaled(o.giveUpMs ?? 60_000),
    );
    s.on("error", (e: NodeJS.ErrnoException) => {
      writeError ||= e.code ?? e.message;
    });
    s.on("data", (d) => {
      reply += d.toString("latin1");
      // The answer is here: the client ends its write side, as an uploader closes its connection
      // once answered, so a connection the server lingers on closes at this FIN, not after the
      // server's idle bound.
      if (!s.writableEnded) s.end();
    });
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ reply, writeError });
    });
    const read = (): void => {
      s.resume();
    };
    s.write(o.head);
    const slice = Buffer.alloc(64 * 1024, 0x61);
    let left = o.size;
    const pump = (): void => {
      while (left > 0 && !s.destroyed) {
        const n = Math.min(left, slice.length);
        left -= n;
        const last = left === 0;
        // The answer is read only after the last write is handed to the kernel.
        const ok = s.write(n === slice.length ? slice : slice.subarray(0, n), last ? read : undefined);
        if (!ok && !last) {
          s.once("drain", pump);
          return;
        }
      }
    };
    pump();
  });
}
