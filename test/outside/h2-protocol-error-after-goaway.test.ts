// A client that sends GOAWAY(NO_ERROR) with a request still open, then a malformed frame (a PING
// of 7 bytes): Node answers the GOAWAY by closing the session gracefully, nghttp2 answers the
// PING with its own GOAWAY(FRAME_SIZE_ERROR) and stops reading and writing, and the open request
// can then never finish. The dead-session sweep (proxy/server/h2-dead-session.ts) skipped every
// session Node had marked closing, so this one stayed open, unread, until the request timeout
// (60 s): the same hold the sweep removed for the malformed frame alone, reached by sending a
// GOAWAY first. Now the connection is closed within a few sweeps, as without that GOAWAY.
// Fails on the old code: still open when the bound ran out.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { readServerFrames } from "../support/h2-frame-reader.js";
import { frame, literal } from "../support/h2-frames.js";
import { oneMemberGate } from "../support/one-member-gate.js";
import { eventually } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const gate = oneMemberGate();

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** Far below the 60 s request and idle timeouts that bounded it before. */
const BOUND_MS = 10_000;

function goaway(code: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(0, 0);
  payload.writeUInt32BE(code, 4);
  return frame(7, 0, 0, payload);
}

test("h2c: a malformed frame after the client's own GOAWAY, a request open: the connection is closed", async () => {
  const before = gate.upstream.requests;
  const s = connect(gate.port, "127.0.0.1");
  s.on("error", () => {});
  const server = readServerFrames(s);
  const head = Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http
    literal(":path", "/upload"),
    literal(":authority", "127.0.0.1"),
    literal("x-user-id", "k"),
  ]);
  // HEADERS with END_HEADERS only and a first DATA frame: the rest of the body is still to come.
  s.write(
    Buffer.concat([
      PREFACE,
      frame(4, 0, 0),
      frame(4, 1, 0),
      frame(1, 0x4, 1, head),
      frame(0, 0, 1, Buffer.from("part")),
    ]),
  );
  await eventually("the request reached the member", () =>
    gate.upstream.requests > before ? true : undefined,
  );
  s.write(goaway(0));
  await eventually("the server's GOAWAY", () => (server.goaway !== -1 ? true : undefined));
  s.write(frame(6, 0, 0, Buffer.alloc(7)));
  s.write(Buffer.alloc(64 * 1024, 0x41));
  const t0 = performance.now();
  let t: NodeJS.Timeout | undefined;
  await Promise.race([server.closed, new Promise((r) => (t = setTimeout(r, scaled(BOUND_MS))))]);
  clearTimeout(t);
  const ms = Math.round(performance.now() - t0);
  s.destroy();
  console.log(`closed: ${server.isClosed} after ${ms} ms`);
  assert.ok(server.isClosed, `still open ${ms} ms after the malformed frame`);
  assert.equal(gate.sg.proc.exit, undefined, `shardgate exited\n${gate.sg.proc.output()}`);
});
