// The listener's uses of Node's undocumented internals (proxy/server/node-internals.ts) each
// have a fallback to documented API, run here with the internal taken away from the instance:
// - linger-close.ts: sockets without destroySoon (taken off net.Socket's prototype for the
//   test: Node's server calls the one lingerIfUnread installs, which ends the connection and
//   destroys it once flushed) and a request without
//   _dump (resume() drops the rest of the body): real sockets on loopback, the answer arrives
//   whole and the connection closes, nothing waits past the deadline.
// - pipeline-order.ts: a socket without _httpMessage, _paused and parser (objects that lack
//   them, as Node's cannot be made to: its own writes need them): a POST and 40 GETs pipelined
//   behind it all run, in order, the socket paused past MAX_HELD and resumed after.
// - send-timeout.ts: an HTTP/1.1 answer on a socket without _httpMessage is watched on its own
//   (as an HTTP/2 one) and its stalled connection still cut at the send timeout.
// Each fallback is noted once (missingInternals).

import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { type AddressInfo, createServer as createNetServer, Socket } from "node:net";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import type { DataPlane } from "../../proxy/forward/types.js";
import { lingerAfterAnswer, lingerIfUnread } from "../../proxy/server/linger-close.js";
import { missingInternals } from "../../proxy/server/node-internals.js";
import { admitInOrder, MAX_HELD } from "../../proxy/server/pipeline-order.js";
import { SendTimeouts } from "../../proxy/server/send-timeout.js";
import { rawSession } from "../support/raw-socket.js";
import { eventuallyTrue } from "../support/wait.js";

/** Bounds every exchange; a hang shows as a deadline passed (closedByPeer false). */
const DEADLINE_MS = 10_000;

test("linger-close: a socket without destroySoon is ended and closed after the last answer", async () => {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    lingerIfUnread(req);
    res.writeHead(200, { "content-length": 2, connection: "close" });
    res.end("ok");
  });
  // A Node without destroySoon: taken off net.Socket for this test (Node's own server then
  // ends the socket itself, but calls the one lingerIfUnread installs, which finds none to call).
  const proto = Socket.prototype as unknown as { destroySoon?: unknown };
  const saved = proto.destroySoon;
  delete proto.destroySoon;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as AddressInfo).port;
    const { reply, closedByPeer } = await rawSession(port, DEADLINE_MS, (s) => {
      s.write("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    });
    assert.match(reply, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/, JSON.stringify(reply));
    assert.equal(closedByPeer, true, "the server closed the connection (nothing hung)");
    assert.ok(missingInternals().includes("Socket#destroySoon"), String(missingInternals()));
  } finally {
    proto.destroySoon = saved;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test("linger-close: a request without _dump lingers with resume(): the rest of the body is dropped, the FIN ends it", async () => {
  // A plain TCP server answering as an early 413 would, while the client is still uploading.
  let body: PassThrough | null = null;
  const server = createNetServer((s) => {
    s.once("data", () => {
      // Stands for the request: a readable without IncomingMessage's _dump.
      const req = new PassThrough();
      body = req;
      s.on("data", (d: Buffer) => req.write(d));
      s.write("HTTP/1.1 413 Payload Too Large\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno");
      lingerAfterAnswer(s, req as unknown as IncomingMessage);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as AddressInfo).port;
    const { reply, closedByPeer } = await rawSession(port, DEADLINE_MS, (s) => {
      s.write("POST / HTTP/1.1\r\nHost: t\r\ncontent-length: 100000\r\n\r\nfirst");
      s.once("data", () => {
        // More of the body after the answer, then the client's FIN.
        s.write(Buffer.alloc(64 * 1024, 0x61));
        s.end();
      });
    });
    assert.match(reply, /^HTTP\/1\.1 413 [\s\S]*\r\n\r\nno$/, JSON.stringify(reply));
    assert.equal(closedByPeer, true, "closed after the client's FIN (nothing hung)");
    assert.ok(body !== null && (body as PassThrough).readableFlowing === true, "the body was resumed");
    assert.ok(missingInternals().includes("IncomingMessage#_dump"), String(missingInternals()));
  } finally {
    await new Promise((r) => server.close(r));
  }
});

/** A connection as pipeline-order reads it, without Node's _httpMessage, _paused and parser. */
class BareSocket extends EventEmitter {
  destroyed = false;
  writableEnded = false;
  paused = false;
  pauses = 0;
  pause(): this {
    this.paused = true;
    this.pauses++;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
}

class BareAnswer extends EventEmitter {
  writableFinished = false;
  constructor(readonly req: IncomingMessage) {
    super();
  }
  /** The answer is written whole: Node emits 'close' on it. */
  done(): void {
    this.writableFinished = true;
    this.emit("close");
  }
}

test("pipeline-order: without _httpMessage, _paused and parser, a POST and 40 GETs behind it all run in order", () => {
  const socket = new BareSocket();
  const ran: string[] = [];
  const queued: number[] = [];
  const run = (req: IncomingMessage, _res: ServerResponse, queuedMs = 0): void => {
    ran.push(req.url ?? "");
    queued.push(queuedMs);
  };
  const request = (method: string, url: string): [IncomingMessage, BareAnswer] => {
    const req = { method, url, httpVersionMinor: 1, socket } as unknown as IncomingMessage;
    return [req, new BareAnswer(req)];
  };
  const [postReq, postRes] = request("POST", "/post");
  admitInOrder(postReq, postRes as unknown as ServerResponse, run);
  assert.deepEqual(ran, ["/post"], "the first request runs at once");
  const gets: BareAnswer[] = [];
  for (let i = 0; i < 40; i++) {
    const [req, res] = request("GET", `/get-${i}`);
    gets.push(res);
    admitInOrder(req, res as unknown as ServerResponse, run);
  }
  assert.deepEqual(ran, ["/post"], "the GETs wait behind the POST");
  assert.ok(40 >= MAX_HELD);
  assert.equal(socket.paused, true, "past MAX_HELD waiting requests the socket is paused (pause() alone)");
  postRes.done();
  assert.deepEqual(
    ran,
    ["/post", ...Array.from({ length: 40 }, (_, i) => `/get-${i}`)],
    "every GET ran, in order",
  );
  assert.equal(socket.paused, false, "reading resumed");
  assert.ok(
    queued.slice(1).every((q) => q >= 0),
    `queue times: ${queued.join(",")}`,
  );
  for (const g of gets) g.done();
  for (const name of ["socket._httpMessage", "socket._paused", "socket.parser"])
    assert.ok(missingInternals().includes(name), `${name}: ${String(missingInternals())}`);
});

/** A client socket whose write queue never moves (the client reads nothing), without _httpMessage. */
class StalledSocket extends EventEmitter {
  destroyed = false;
  writableLength = 64 * 1024;
  bytesWritten = 1000;
  destroy(): this {
    this.destroyed = true;
    this.emit("close");
    return this;
  }
}

test("send-timeout: without _httpMessage each HTTP/1.1 answer is watched on its own and still cut", async () => {
  const socket = new StalledSocket();
  const res = Object.assign(new EventEmitter(), {
    socket,
    headersSent: true,
    writableFinished: false,
    destroyed: false,
  });
  const timedOut: unknown[] = [];
  const codes: string[] = [];
  const plane = { clientSendTimedOut: (r: unknown) => timedOut.push(r) } as unknown as DataPlane;
  const watch = new SendTimeouts(plane, 100, (code) => codes.push(code));
  try {
    watch.trackHttp1(res as unknown as ServerResponse);
    const cut = await eventuallyTrue(() => socket.destroyed, DEADLINE_MS);
    assert.ok(cut, "the stalled answer's connection was cut (nothing hung)");
    assert.deepEqual(timedOut, [res], "the data plane was told which answer");
    assert.deepEqual(codes, ["client_send_timeout"]);
    assert.ok(missingInternals().includes("socket._httpMessage"), String(missingInternals()));
  } finally {
    watch.close();
  }
});
