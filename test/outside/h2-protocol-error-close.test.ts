// Connection errors nghttp2 answers by itself: it sends GOAWAY and stops, and Node stopped
// reading the socket without closing it or telling shardgate, so the connection stayed open until
// the idle timeout (60 s) while the client's bytes piled up unread in the kernel. RFC 9113
// section 5.4.1: after a GOAWAY for a connection error the TCP connection MUST be closed.
// Tried from a raw frame client, one connection per malformed frame (13 of 34 kinds tried behaved
// so; four of them here): each connection gets its GOAWAY and is closed within a few seconds,
// counted as h2_protocol_error and logged once, and an h2 session opened before them, quiet all
// along, still serves a request after (the sweep that closes dead sessions leaves live ones).
// Fails on the old code: the GOAWAY came, the close did not.

import assert from "node:assert/strict";
import { connect as h2connect } from "node:http2";
import { connect } from "node:net";
import { test } from "node:test";
import { readServerFrames } from "../support/h2-frame-reader.js";
import { frame } from "../support/h2-frames.js";
import { oneMemberGate } from "../support/one-member-gate.js";
import { eventually, metricValue } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const gate = oneMemberGate();

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const PROTOCOL_ERROR = 1;
const FRAME_SIZE_ERROR = 6;
const COMPRESSION_ERROR = 9;

const CASES: ReadonlyArray<[string, Buffer, number]> = [
  [
    "PRIORITY on stream 1 depending on stream 1",
    frame(2, 0, 1, Buffer.from([0, 0, 0, 1, 16])),
    PROTOCOL_ERROR,
  ],
  ["DATA on an idle stream", frame(0, 0, 1, Buffer.from("x")), PROTOCOL_ERROR],
  ["a PING of 7 bytes", frame(6, 0, 0, Buffer.alloc(7)), FRAME_SIZE_ERROR],
  ["a header block HPACK cannot decode (index 0)", frame(1, 0x5, 1, Buffer.from([0x80])), COMPRESSION_ERROR],
];

function quietSession(): { get: () => Promise<number>; close: () => void } {
  const c = h2connect(`http://127.0.0.1:${gate.port}`);
  c.on("error", () => {});
  const get = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const r = c.request({ ":path": "/quiet", "x-user-id": "q" });
      r.on("response", (h) => {
        r.resume();
        r.on("end", () => resolve(Number(h[":status"])));
      });
      r.on("error", reject);
      r.end();
    });
  return { get, close: () => c.close() };
}

test("h2c connection errors nghttp2 answers with GOAWAY: the connection is closed, counted and logged once", async () => {
  const quiet = quietSession();
  assert.equal(await quiet.get(), 200, "the quiet session is served first");
  const before = gate.upstream.requests;
  for (const [name, bad, code] of CASES) {
    const s = connect(gate.port, "127.0.0.1");
    s.on("error", () => {});
    const server = readServerFrames(s);
    s.write(Buffer.concat([PREFACE, frame(4, 0, 0), frame(4, 1, 0), bad]));
    // Bytes after the GOAWAY: what the old code left unread in the kernel.
    s.write(Buffer.alloc(64 * 1024, 0x41));
    const t0 = performance.now();
    let t: NodeJS.Timeout | undefined;
    await Promise.race([server.closed, new Promise((r) => (t = setTimeout(r, scaled(10_000))))]);
    clearTimeout(t);
    const ms = Math.round(performance.now() - t0);
    s.destroy();
    assert.equal(server.goaway, code, `${name}: GOAWAY ${code}, got ${server.goaway}`);
    assert.ok(server.isClosed, `${name}: still open ${ms} ms after its GOAWAY`);
    console.log(`${name}: GOAWAY ${server.goaway}, closed after ${ms} ms`);
  }
  assert.equal(gate.upstream.requests, before, "nothing forwarded");

  const counted = await eventually("h2_protocol_error counted", async () => {
    const text = await (await fetch(`${gate.sg.adminUrl}/metrics`)).text();
    const n = metricValue(text, "shardgate_downstream_client_errors_total", { code: "h2_protocol_error" });
    return n === CASES.length ? n : undefined;
  });
  assert.equal(counted, CASES.length);
  const warned = gate.sg.proc.lines.filter((l) => l.code === "h2_protocol_error");
  assert.equal(warned.length, CASES.length, "one warning per connection");

  assert.equal(gate.sg.proc.exit, undefined, `shardgate exited\n${gate.sg.proc.output()}`);
  // Opened before the cases, quiet through several sweeps: still alive.
  assert.equal(await quiet.get(), 200, "the quiet session still serves");
  quiet.close();
});
