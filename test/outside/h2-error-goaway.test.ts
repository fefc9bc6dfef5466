// The GOAWAY code a raw HTTP/2 client gets from a real shardgate when Node ends its session for
// an nghttp2 error (proxy/server/h2-error-goaway.ts):
// - a WINDOW_UPDATE taking the connection's window past 2^31-1: FLOW_CONTROL_ERROR (RFC 9113
//   section 6.9.1), where Node sent INTERNAL_ERROR; on a stream's window, RST_STREAM
//   FLOW_CONTROL_ERROR and then GOAWAY FLOW_CONTROL_ERROR (was INTERNAL_ERROR);
// - a PING or SETTINGS flood ended by nghttp2's outbound-queue limit, from a client reading as
//   it sends: GOAWAY ENHANCE_YOUR_CALM, where the client saw no GOAWAY at all (the socket was
//   destroyed with the flood unread, and the kernel's RST dropped the GOAWAY at the client).
// Each flood is bounded in frames and time; after each case a well-behaved h2c client is served.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { h2StatusOnce } from "../support/h2-client.js";
import { readServerFrames, type ServerFrames } from "../support/h2-frame-reader.js";
import { frame, literal } from "../support/h2-frames.js";
import { oneMemberGate } from "../support/one-member-gate.js";
import { scaled } from "../support/wait.js";

const gate = oneMemberGate();

const FLOW_CONTROL_ERROR = 3;
const ENHANCE_YOUR_CALM = 11;
const FRAMES = 20_000;
const CLOSE_DEADLINE_MS = 10_000;

/** A raw client past its preface and SETTINGS, its server's frames read as they come. */
function rawClient(): { s: Socket; server: ServerFrames } {
  const s = connect(gate.port, "127.0.0.1");
  s.on("error", () => {});
  const server = readServerFrames(s);
  s.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  s.write(frame(4, 0, 0));
  return { s, server };
}

/** Resolves once the server closed `s`; destroys it (and fails the wait) after the deadline. */
async function closedByServer(s: Socket, server: ServerFrames, what: string): Promise<void> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    s.destroy();
  }, scaled(CLOSE_DEADLINE_MS));
  await server.closed;
  clearTimeout(timer);
  assert.equal(timedOut, false, `${what}: the connection was still open after ${CLOSE_DEADLINE_MS} ms`);
}

const MAX_INCREMENT = Buffer.from([0x7f, 0xff, 0xff, 0xff]);

test("WINDOW_UPDATE past 2^31-1 on the connection: GOAWAY FLOW_CONTROL_ERROR", async () => {
  const { s, server } = rawClient();
  s.write(frame(8, 0, 0, MAX_INCREMENT));
  await closedByServer(s, server, "connection window overflow");
  assert.equal(server.goaway, FLOW_CONTROL_ERROR, `GOAWAY code ${server.goaway}\n${gate.sg.proc.output()}`);
  assert.equal(await h2StatusOnce(gate.sg.httpUrl), 200);
});

test("WINDOW_UPDATE past 2^31-1 on a stream: RST_STREAM and GOAWAY FLOW_CONTROL_ERROR", async () => {
  const { s, server } = rawClient();
  // POST / with no END_STREAM: the stream stays open for the WINDOW_UPDATE in the same packet.
  const block = Buffer.concat([
    Buffer.from([0x83, 0x86, 0x84]),
    literal(":authority", "a"),
    literal("x-user-id", "k"),
  ]);
  s.write(Buffer.concat([frame(1, 0x4, 1, block), frame(8, 0, 1, MAX_INCREMENT)]));
  await closedByServer(s, server, "stream window overflow");
  assert.equal(server.rst.get(FLOW_CONTROL_ERROR), 1, `RST_STREAM codes ${[...server.rst]}`);
  assert.equal(server.goaway, FLOW_CONTROL_ERROR, `GOAWAY code ${server.goaway}\n${gate.sg.proc.output()}`);
  assert.equal(await h2StatusOnce(gate.sg.httpUrl), 200);
});

const FLOODS: Record<string, () => Buffer> = {
  "PING flood": () => frame(6, 0, 0, Buffer.alloc(8)),
  "SETTINGS flood": () => frame(4, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100])),
};

for (const [name, next] of Object.entries(FLOODS)) {
  test(`${name} ended by nghttp2's outbound-queue limit: the reading client gets GOAWAY ENHANCE_YOUR_CALM`, async () => {
    const { s, server } = rawClient();
    let sent = 0;
    const pump = (): void => {
      while (sent < FRAMES && !s.destroyed) {
        sent++;
        if (!s.write(next())) {
          s.once("drain", pump);
          return;
        }
      }
    };
    pump();
    await closedByServer(s, server, name);
    assert.equal(
      server.goaway,
      ENHANCE_YOUR_CALM,
      `${name}: GOAWAY code ${server.goaway} (-1: none) after ${sent} frames\n${gate.sg.proc.output()}`,
    );
    assert.equal(await h2StatusOnce(gate.sg.httpUrl), 200);
  });
}
