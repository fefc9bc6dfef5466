// Tried from the outside with a raw frame client against a real shardgate process (h2c, one
// echo member on loopback): the HTTP/2 abuse classes nghttp2 and Node bound, each checked to be
// closed (or, for the frames nothing answers, cheap), to forward nothing to the member, and to
// leave the next client served. h2-floods.test.ts floods from a client that reads; here:
//   - an endless CONTINUATION chain (CVE-2024-27316's class): nghttp2 >= 1.61 ends the
//     connection after 8 CONTINUATION frames of one block;
//   - SETTINGS and PING floods from a client that never reads the ACKs: nghttp2 ends the
//     connection once 1,000 ACKs queue;
//   - streams the server itself must reset (an uppercase header name: "MadeYouReset"'s class,
//     resets a client provokes instead of sending): Node ends the session after
//     maxSessionInvalidFrames (1,000), none reaches the member;
//   - empty DATA frames: the same invalid-frame limit;
//   - more streams than SETTINGS_MAX_CONCURRENT_STREAMS in one packet: the extra ones are
//     refused (REFUSED_STREAM) at once, not queued;
//   - PRIORITY (idle streams; reordering 20 open streams), WINDOW_UPDATE and padding-only DATA
//     floods, which neither bounds: what they cost in CPU is measured.
// Guards: all of it held on the code it was tried on (h2-listener.ts now names these limits
// rather than relying on Node's defaults); each fails if a limit is lost.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { h2StatusOnce } from "../support/h2-client.js";
import { pump } from "../support/h2-frame-pump.js";
import { readServerFrames, type ServerFrames } from "../support/h2-frame-reader.js";
import { frame, literal } from "../support/h2-frames.js";
import { oneMemberGate } from "../support/one-member-gate.js";
import { scaled } from "../support/wait.js";

const gate = oneMemberGate();

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const REFUSED_STREAM = 7;
const PROTOCOL_ERROR = 1;

function requestBlock(method: number, extra: Buffer[] = []): Buffer {
  // 0x82 GET / 0x83 POST, 0x86 :scheme http, 0x84 :path /
  return Buffer.concat([
    Buffer.from([method, 0x86, 0x84]),
    literal(":authority", "a"),
    literal("x-user-id", "k"),
    ...extra,
  ]);
}

// Few enough that, with the 100 the test above may still hold, the next client stays within its
// share of the member (listen.maxUpstreamPerClient: 503 client_share_exceeded past it).
const OPEN_STREAMS = 20;

function openStreams(): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < OPEN_STREAMS; i++) out.push(frame(1, 0x4, 2 * i + 1, requestBlock(0x83)));
  return Buffer.concat(out);
}

function reorder(i: number): Buffer {
  const stream = i % OPEN_STREAMS;
  const parent = (i * 7 + 3) % OPEN_STREAMS;
  const p = Buffer.alloc(5);
  // Exclusive flag; a stream never depends on itself (that is a connection error).
  p.writeUInt32BE(parent === stream ? 0 : (0x80000000 | (2 * parent + 1)) >>> 0);
  p[4] = i & 255;
  return frame(2, 0, 2 * stream + 1, p);
}

function open(settings: Buffer = Buffer.alloc(0)): { s: Socket; server: ServerFrames } {
  const s = connect(gate.port, "127.0.0.1");
  s.on("error", () => {});
  const server = readServerFrames(s);
  s.write(Buffer.concat([PREFACE, frame(4, 0, 0, settings)]));
  return { s, server };
}

/**
 * Waits (bounded, scaled) for the server to close the socket; false if it did not. How many
 * frames were written first is printed, not judged: the kernel's socket buffers take up to a few
 * MB of them before the server reads, more on a loaded machine.
 */
async function closedByServer(server: ServerFrames, ms = 30_000): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([server.closed, new Promise((r) => (t = setTimeout(r, scaled(ms))))]);
  clearTimeout(t);
  return server.isClosed;
}

function cpuMs(): number {
  const fields = readFileSync(`/proc/${gate.sg.proc.child.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, 100 Hz ticks
}

async function nextClientServed(what: string): Promise<void> {
  assert.equal(gate.sg.proc.exit, undefined, `${what}: shardgate exited\n${gate.sg.proc.output()}`);
  assert.equal(await h2StatusOnce(gate.sg.httpUrl), 200, `${what}: the next client is served`);
}

test("h2c CONTINUATION without END_HEADERS: the connection is closed within a bounded number of frames, nothing forwarded", async () => {
  const before = gate.upstream.requests;
  const { s, server } = open();
  const c0 = cpuMs();
  const sent = await pump(s, 200_000, 20_000, (i) =>
    i === 0 ? frame(1, 0, 1, requestBlock(0x82)) : frame(9, 0, 1, literal(`x-${i}`, "v".repeat(100))),
  );
  assert.ok(await closedByServer(server), `still open after ${sent} CONTINUATION frames`);
  assert.equal(gate.upstream.requests, before, "nothing forwarded");
  console.log(`CONTINUATION chain: closed after ${sent} frames written, ${cpuMs() - c0} ms CPU`);
  await nextClientServed("CONTINUATION chain");
});

for (const [name, next] of [
  ["SETTINGS", () => frame(4, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]))],
  ["PING", () => frame(6, 0, 0, Buffer.alloc(8))],
] as const) {
  test(`h2c ${name} flood from a client that never reads the ACKs: closed once the ACKs queue`, async () => {
    const { s, server } = open();
    s.pause(); // the ACKs stay unread in the socket buffers, then in nghttp2's queue
    const c0 = cpuMs();
    const sent = await pump(s, 500_000, 20_000, next);
    s.resume();
    assert.ok(await closedByServer(server), `still open after ${sent} ${name} frames`);
    console.log(`${name} flood, ACKs unread: closed after ${sent} frames written, ${cpuMs() - c0} ms CPU`);
    await nextClientServed(`${name} flood`);
  });
}

test("h2c streams the server must reset (an uppercase header name): the session ends at the invalid-frame limit, nothing forwarded", async () => {
  const before = gate.upstream.requests;
  const { s, server } = open();
  const bad = requestBlock(0x82, [literal("X-Bad", "1")]);
  // Rounds of 10 streams, each round followed by a PING whose ACK says the server read it.
  let sent = 0;
  const deadline = Date.now() + scaled(60_000);
  while (sent < 3000 && !server.isClosed && Date.now() < deadline) {
    const round: Buffer[] = [];
    for (let j = 0; j < 10; j++, sent++) round.push(frame(1, 0x5, 2 * sent + 1, bad));
    round.push(frame(6, 0, 0, Buffer.alloc(8)));
    const acks = server.pingAcks;
    s.write(Buffer.concat(round));
    while (server.pingAcks === acks && !server.isClosed && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 2));
  }
  assert.ok(await closedByServer(server), `still open after ${sent} streams`);
  const resets = server.rst.get(PROTOCOL_ERROR) ?? 0;
  assert.ok(
    resets >= 900 && resets <= 1010,
    `closed at ~1,000 server resets: ${resets}, ${sent} streams sent`,
  );
  assert.equal(gate.upstream.requests, before, "nothing forwarded");
  console.log(`server-reset streams: ${resets} resets, then closed (GOAWAY ${server.goaway})`);
  await nextClientServed("server-reset streams");
});

test("h2c empty DATA frames: the session ends at the invalid-frame limit", async () => {
  const { s, server } = open();
  const sent = await pump(s, 500_000, 20_000, (i) =>
    i === 0 ? frame(1, 0x4, 1, requestBlock(0x83)) : frame(0, 0, 1),
  );
  assert.ok(await closedByServer(server), `still open after ${sent} empty DATA frames`);
  console.log(`empty DATA: closed after ${sent} frames written`);
  await nextClientServed("empty DATA");
});

test("h2c 300 streams opened in one packet over a limit of 100: 200 refused at once (REFUSED_STREAM), the connection lives", async () => {
  const before = gate.upstream.requests;
  const { s, server } = open();
  // POSTs whose bodies never end: each of the first 100 holds its slot.
  const out: Buffer[] = [];
  for (let i = 0; i < 300; i++) out.push(frame(1, 0x4, 2 * i + 1, requestBlock(0x83)));
  out.push(frame(6, 0, 0, Buffer.alloc(8)));
  s.write(Buffer.concat(out));
  const deadline = Date.now() + scaled(30_000);
  while (server.pingAcks === 0 && !server.isClosed && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 5));
  assert.equal(server.pingAcks, 1, "the PING after the streams was answered");
  assert.equal(server.rst.get(REFUSED_STREAM), 200, `refused: ${JSON.stringify([...server.rst])}`);
  assert.equal(server.isClosed, false);
  assert.ok(gate.upstream.requests - before <= 100, `${gate.upstream.requests - before} forwarded`);
  s.destroy();
  await nextClientServed("300 streams");
});

for (const [name, next] of [
  ["PRIORITY", (i: number) => frame(2, 0, 2 * (i % 1000) + 1, Buffer.from([0, 0, 0, 0, 16]))],
  ["WINDOW_UPDATE (+1)", () => frame(8, 0, 0, Buffer.from([0, 0, 0, 1]))],
  // Open streams (bodies never ended), each PRIORITY making one depend exclusively on another:
  // the dependency tree is rebuilt at every frame, cycles included (RFC 7540 5.3.3).
  ["PRIORITY reordering 20 open streams", (i: number) => (i === 0 ? openStreams() : reorder(i))],
  // Padding only: not empty to Node's count of empty DATA frames, so not ended by that limit.
  [
    "padded empty DATA",
    (i: number) => (i === 0 ? frame(1, 0x4, 1, requestBlock(0x83)) : frame(0, 0x8, 1, Buffer.from([0]))),
  ],
] as const) {
  test(`h2c ${name} flood (nothing limits it): 1,000,000 frames cost little CPU; the next client is served`, async () => {
    const { s, server } = open();
    const c0 = cpuMs();
    const sent = await pump(s, 1_000_000, 60_000, next);
    // A PING after the flood: its ACK says the server read every frame before it.
    s.write(frame(6, 0, 0, Buffer.alloc(8)));
    const deadline = Date.now() + scaled(30_000);
    while (server.pingAcks === 0 && !server.isClosed && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    const cpu = cpuMs() - c0;
    s.destroy();
    console.log(`${name} flood: ${sent} frames read, ${cpu} ms of shardgate CPU`);
    assert.equal(server.pingAcks, 1, `the flood was read (${sent} frames)`);
    // Measured ~130 ms per 1,000,000 frames; a JS callback per frame would cost seconds.
    assert.ok(cpu < 3000, `${cpu} ms of CPU for ${sent} frames`);
    await nextClientServed(`${name} flood`);
  });
}
