// A session Node ends for an nghttp2 error lingers its socket for LINGER_MS
// (proxy/server/h2-error-goaway.ts) by standing in for the socket's destroy. The listener's
// connection cap (connection-cap.ts) has put its own destroy on every socket, which frees the
// connection's slot at once; the linger then put the prototype's destroy back, so the cap's was
// never called and the slot waited for the socket's 'close'. Here a real h2 server's sockets get
// such a destroy, a raw client overflows the connection window (FLOW_CONTROL_ERROR, lingered)
// and stays half-open, so the linger's own timer ends the socket: that destroy must be the
// socket's own, called once.

import assert from "node:assert/strict";
import { createServer } from "node:http2";
import { type AddressInfo, connect, type Socket } from "node:net";
import { test } from "node:test";
import { answerSessionErrors } from "../../proxy/server/h2-error-goaway.js";
import { LINGER_MS } from "../../proxy/server/linger-close.js";
import { frame } from "../support/h2-frames.js";
import { eventually } from "../support/wait.js";

test("a lingered h2 socket is ended by its own destroy (the connection cap's), once", async () => {
  let ownCalls = 0;
  let closed = false;
  const server = createServer();
  server.prependListener("connection", (socket: Socket) => {
    const base = socket.destroy;
    socket.destroy = function ownDestroy(this: Socket, err?: Error) {
      ownCalls++;
      return base.call(this, err);
    };
    socket.once("close", () => {
      closed = true;
    });
  });
  server.on("session", answerSessionErrors);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  // Half-open: the client's FIN would end the linger before its timer does.
  const client = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  client.on("error", () => {});
  client.resume();
  try {
    client.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    client.write(frame(4, 0, 0));
    client.write(frame(8, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff])));
    const since = performance.now();
    await eventually(
      "the server closed the lingered socket",
      () => (closed ? true : undefined),
      LINGER_MS * 10,
    );
    const after = performance.now() - since;
    assert.ok(after >= LINGER_MS / 2, `it lingered (closed ${Math.round(after)} ms after the overflow)`);
    assert.equal(ownCalls, 1, "the socket's own destroy ended it, once");
  } finally {
    client.destroy();
    await new Promise((r) => server.close(r));
  }
});
