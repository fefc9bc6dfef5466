// Memory and work far beyond an input's size, from an HTTP/2 member's side, in the answer's
// trailers: c90836b bounded an answer HEAD's decoded header list at 16 KiB (HPACK lets a member
// add one 4 KB field to the dynamic table and name it again with one byte per line, and nghttp2
// holds a member to our SETTINGS_MAX_HEADER_LIST_SIZE only once it ACKs our SETTINGS), but the
// trailer block after the body went through unchecked: a raw h2c member that never ACKs answers
// with a small head, a 2-byte body and a 4.4 KB trailer block that decodes to 400 KB (100 lines),
// and shardgate relayed all of it to the client as HTTP/1.1 trailers. Now a trailer block past
// the same limit fails the answer as a head past it does (the client's response is cut, never
// given the block; counted as the member's reset) and the session is kept for the next request.

import assert from "node:assert/strict";
import { request } from "node:http";
import { test } from "node:test";
import { amplifiedField, frame } from "../support/h2-frames.js";
import { h2cMemberGatePerFile } from "../support/h2c-member-gate.js";
import { SMALL_HEAD, smallAnswer, startRawH2cMember } from "../support/raw-h2c-member.js";
import { metricValue } from "../support/shardgate-process.js";

/** Lines of the amplified trailer block: under Node's 128-pair cap, 25x the 16 KiB limit decoded. */
const COPIES = 100;

/** A trailer block: the amplified field alone. */
const amplifiedTrailers = amplifiedField;

const gate = h2cMemberGatePerFile(() =>
  // Every request is answered with a small head and a 2-byte body; the first answer ends with
  // the amplified trailer block, later ones end with the body.
  startRawH2cMember((stream, nth) =>
    nth === 0
      ? Buffer.concat([
          frame(1, 0x4, stream, SMALL_HEAD),
          frame(0, 0, stream, Buffer.from("ok")),
          // END_STREAM | END_HEADERS: the trailer block.
          frame(1, 0x5, stream, amplifiedTrailers(COPIES)),
        ])
      : smallAnswer(stream),
  ),
);

interface Got {
  status: number;
  /** Whether the answer ended whole (its last chunk and trailers read). */
  complete: boolean;
  trailerBytes: number;
  body: string;
}

/** One GET through shardgate (Node's client allows a 1 MB head and trailer section here). */
function get(): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${gate.sg.httpUrl}/`,
      { headers: { "x-user-id": "k" }, agent: false, maxHeaderSize: 1 << 20 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("error", () => undefined); // a cut answer: seen through `complete` at close
        res.on("close", () =>
          resolve({
            status: res.statusCode ?? 0,
            complete: res.complete,
            trailerBytes: res.rawTrailers.reduce((n, s) => n + s.length, 0),
            body,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

test(`an HPACK-amplified trailer block (${COPIES} x 4 KB from 4.4 KB) never reaches the client, is counted, and the session serves the next request`, async () => {
  assert.ok(amplifiedTrailers(COPIES).length < 4_500);
  const first = await get();
  assert.ok(
    first.trailerBytes < 16_384,
    `${first.trailerBytes} bytes of trailers reached the client (status ${first.status}, complete ${first.complete})`,
  );
  assert.equal(first.complete, false, "the answer is cut, not ended as whole without its trailers");
  const metrics = await (await fetch(`${gate.sg.adminUrl}/metrics`)).text();
  assert.equal(
    metricValue(metrics, "shardgate_upstream_errors_total", { pool: "users", member: "m1", kind: "reset" }),
    1,
    "counted as the member's reset",
  );
  const second = await get();
  assert.equal(second.status, 200, second.body);
  assert.equal(second.body, "ok");
  assert.equal(second.complete, true);
  assert.equal(gate.member.connections, 1, "one session to the member: kept after the refused trailers");
});
