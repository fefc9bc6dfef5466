// Memory and work far beyond an input's size, from an HTTP/2 member's side: HPACK lets a member
// add one 4 KB field to the dynamic table and name it again with one byte per line, and nghttp2
// holds a peer to our SETTINGS_MAX_HEADER_LIST_SIZE only once it has acknowledged our SETTINGS.
// A raw h2c member that never sends the ACK answers with a 4.4 KB header block that decodes to
// 400 KB (100 lines): before the fix shardgate took it as the answer and relayed the head to
// the client whole. Now an answer head whose decoded list is past 16 KiB (undici's limit for an
// HTTP/1.1 member's head) is 502 upstream_bad_response, counted as the member's reset, its
// stream reset and the session kept: the next request on it is answered.

import assert from "node:assert/strict";
import { request } from "node:http";
import { test } from "node:test";
import { amplifiedField, frame } from "../support/h2-frames.js";
import { h2cMemberGatePerFile } from "../support/h2c-member-gate.js";
import { smallAnswer, startRawH2cMember } from "../support/raw-h2c-member.js";
import { metricValue } from "../support/shardgate-process.js";

/** Lines of the amplified head: under Node's 128-pair cap, 25x the 16 KiB limit decoded. */
const COPIES = 100;

/** :status 200, then the amplified field. */
function amplifiedHead(copies: number): Buffer {
  return Buffer.concat([Buffer.from([0x88]), amplifiedField(copies)]);
}

const gate = h2cMemberGatePerFile(() =>
  // The first request is answered with the amplified head, every later one with a small head;
  // each with a 2-byte body.
  startRawH2cMember((stream, nth) =>
    nth === 0
      ? Buffer.concat([
          frame(1, 0x4, stream, amplifiedHead(COPIES)),
          frame(0, 0x1, stream, Buffer.from("ok")),
        ])
      : smallAnswer(stream),
  ),
);

/** One GET through shardgate: status, head size and body (Node's client allows a 1 MB head here). */
function get(): Promise<{ status: number; headBytes: number; body: string }> {
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
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headBytes: res.rawHeaders.reduce((n, s) => n + s.length, 0),
            body,
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

test(`an HPACK-amplified answer head (${COPIES} x 4 KB from 4.4 KB) is 502 upstream_bad_response, counted; the session serves the next request`, async () => {
  assert.ok(amplifiedHead(COPIES).length < 4_500);
  const first = await get();
  assert.equal(first.status, 502, `answered ${first.status} with a head of ${first.headBytes} bytes`);
  assert.match(first.body, /upstream_bad_response/);
  assert.ok(first.headBytes < 16_384, `${first.headBytes} bytes of head reached the client`);
  const metrics = await (await fetch(`${gate.sg.adminUrl}/metrics`)).text();
  assert.equal(
    metricValue(metrics, "shardgate_upstream_errors_total", { pool: "users", member: "m1", kind: "reset" }),
    1,
    "counted as the member's reset",
  );
  const second = await get();
  assert.equal(second.status, 200, second.body);
  assert.equal(second.body, "ok");
  assert.equal(gate.member.connections, 1, "one session to the member: kept after the refused head");
});
