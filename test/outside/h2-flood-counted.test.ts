// The HTTP/2 floods nghttp2 and Node end by themselves (h2-abuse-frames.test.ts checks that
// they end) must also be visible: before, the session was destroyed with a debug line only, so an
// operator saw nothing of a flood. Now each flooding connection is counted in
// shardgate_downstream_client_errors_total{code="h2_flood"} and logged once at warn, as Envoy
// counts its flood closes. Three floods from a raw frame client, bounded in frames and time:
// PINGs whose ACKs are left unread (CVE-2019-9512), a CONTINUATION chain (CVE-2024-27316's
// class) and empty DATA frames (CVE-2019-9518). Fails on the old code: nothing counted.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { pump } from "../support/h2-frame-pump.js";
import { readServerFrames } from "../support/h2-frame-reader.js";
import { frame, literal } from "../support/h2-frames.js";
import { oneMemberGate } from "../support/one-member-gate.js";
import { eventually, metricValue } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const gate = oneMemberGate();

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function requestBlock(method: number): Buffer {
  // 0x82 GET / 0x83 POST, 0x86 :scheme http, 0x84 :path /
  return Buffer.concat([
    Buffer.from([method, 0x86, 0x84]),
    literal(":authority", "a"),
    literal("x-user-id", "k"),
  ]);
}

const FLOODS: ReadonlyArray<[string, boolean, (i: number) => Buffer]> = [
  ["PING, ACKs unread", true, () => frame(6, 0, 0, Buffer.alloc(8))],
  [
    "CONTINUATION chain",
    false,
    (i) => (i === 0 ? frame(1, 0, 1, requestBlock(0x82)) : frame(9, 0, 1, literal(`x-${i}`, "v"))),
  ],
  ["empty DATA", false, (i) => (i === 0 ? frame(1, 0x4, 1, requestBlock(0x83)) : frame(0, 0, 1))],
];

test("h2c floods nghttp2 and Node end are counted as h2_flood and logged once each", async () => {
  for (const [name, unread, next] of FLOODS) {
    const s = connect(gate.port, "127.0.0.1");
    s.on("error", () => {});
    const server = readServerFrames(s);
    if (unread) s.pause();
    s.write(Buffer.concat([PREFACE, frame(4, 0, 0)]));
    const sent = await pump(s, 500_000, 20_000, next);
    s.resume();
    let t: NodeJS.Timeout | undefined;
    await Promise.race([server.closed, new Promise((r) => (t = setTimeout(r, scaled(30_000))))]);
    clearTimeout(t);
    s.destroy();
    assert.ok(server.isClosed, `${name}: still open after ${sent} frames`);
    console.log(`${name}: closed after ${sent} frames written`);
  }
  const counted = await eventually("h2_flood counted", async () => {
    const text = await (await fetch(`${gate.sg.adminUrl}/metrics`)).text();
    const n = metricValue(text, "shardgate_downstream_client_errors_total", { code: "h2_flood" });
    return n === FLOODS.length ? n : undefined;
  });
  assert.equal(counted, FLOODS.length);
  const warned = gate.sg.proc.lines.filter((l) => l.code === "h2_flood");
  assert.equal(warned.length, FLOODS.length, `one warning per connection: ${JSON.stringify(warned)}`);
  assert.equal(gate.sg.proc.exit, undefined, `shardgate exited\n${gate.sg.proc.output()}`);
});
