// The sweep that closes sessions nghttp2 ended by itself (proxy/server/h2-dead-session.ts) asks
// each open session, once a second, whether nghttp2 still wants to read or write. Tried here
// from the outside: every healthy session it could mistake for a dead one survives several sweep
// periods and is still served after, on the listener (h2c and h2 over TLS) and towards the member
// (an h2c pool): a keep-alive session with no stream open, a long-lived gRPC call idle at both
// ends, a client that stops reading its socket while a large answer is written to it (shardgate's
// writes back up in the kernel), and shardgate's pooled session to the member idle between
// calls. Nothing is counted as h2_protocol_error. Real shardgate processes, a node:http2 member
// (test/support/h2-flow-upstream.ts), node:http2 clients and one raw frame client, loopback.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type ClientHttp2Session, type ClientHttp2Stream, connect as h2Connect } from "node:http2";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { freshModuleValue } from "../support/fresh-module-value.js";
import { EMPTY_MESSAGE, grpcCall, h2cPoolConfig } from "../support/h2-fixture.js";
import { type FlowUpstream, startFlowUpstream } from "../support/h2-flow-upstream.js";
import { readServerFrames } from "../support/h2-frame-reader.js";
import { frame, literal } from "../support/h2-frames.js";
import {
  eventually,
  metricValue,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { scaled } from "../support/wait.js";

/**
 * The sweep's period in the processes here: a quarter of its 1 s (SHARDGATE_TEST_H2_DEAD_SESSION_SWEEP_MS).
 * What is tried is that healthy sessions outlive several sweeps, not how long a sweep waits:
 * each quiet spell below was 3.5 s at first.
 */
const SWEEP_MS = 250;
const SWEEP_ENV = { SHARDGATE_TEST_H2_DEAD_SESSION_SWEEP_MS: String(SWEEP_MS) };
/** Several sweep periods. */
const QUIET_MS = SWEEP_MS * 3.5;
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** The answer the raw client leaves unread: far more than the socket buffers and windows hold. */
const FIREHOSE_BYTES = 8 * 1024 * 1024;

let up: FlowUpstream;
let plain: RunningShardgate;
let tls: RunningShardgate;
let certDir: string;
let ca: Buffer;

before(async () => {
  up = await startFlowUpstream();
  // Long listener timeouts (send among them): only the sweep could end a session here.
  const yaml = h2cPoolConfig([{ id: "g1", port: up.port }], { response: "120s", request: "120s" });
  plain = await startShardgate(yaml, { env: SWEEP_ENV });
  certDir = mkdtempSync(join(tmpdir(), "sg-h2live-"));
  makeCa(certDir);
  issueCert(certDir, "leaf", "127.0.0.1", "IP:127.0.0.1");
  ca = readFileSync(join(certDir, "ca.pem"));
  tls = await startShardgate(
    yaml.replace(
      "  admin: 127.0.0.1:0\n",
      `  admin: 127.0.0.1:0\n  tls: { cert: "${join(certDir, "leaf.pem")}", key: "${join(certDir, "leaf.key")}" }\n`,
    ),
    { env: SWEEP_ENV },
  );
});

after(async () => {
  await stopAll();
  await up?.close();
  if (certDir !== undefined) rmSync(certDir, { recursive: true, force: true });
});

async function session(url: string): Promise<{ s: ClientHttp2Session; ended: string[] }> {
  const s = h2Connect(url, { ca });
  const ended: string[] = [];
  s.on("error", (e) => ended.push(`error ${e.message}`));
  s.on("goaway", (code) => ended.push(`goaway ${code}`));
  s.on("close", () => ended.push("close"));
  await new Promise<void>((r, j) => {
    s.once("remoteSettings", () => r());
    s.once("error", j);
  });
  return { s, ended };
}

/** A gRPC call to /hold: answered 200 and one message, then held open by the member. */
function holdCall(s: ClientHttp2Session): {
  st: ClientHttp2Stream;
  got: () => number;
  closed: () => boolean;
} {
  const st = s.request({
    ":method": "POST",
    ":path": "/hold",
    "content-type": "application/grpc",
    te: "trailers",
    "x-user-id": "live",
  });
  let got = 0;
  let closed = false;
  st.on("data", (c: Buffer) => {
    got += c.length;
  });
  st.on("error", () => {});
  st.on("close", () => {
    closed = true;
  });
  st.write(EMPTY_MESSAGE);
  return { st, got: () => got, closed: () => closed };
}

// The quiet spells below are several sweeps only if the processes sweep that often: were the
// variable ignored, they would span less than one sweep and prove nothing.
test("a process given SHARDGATE_TEST_H2_DEAD_SESSION_SWEEP_MS sweeps at that period; without it, every 1 s", () => {
  const sweep = (env: Record<string, string>) =>
    freshModuleValue("server/h2-dead-session.js", "DEAD_SESSION_SWEEP_MS", env).value;
  assert.equal(sweep(SWEEP_ENV), String(SWEEP_MS));
  assert.equal(sweep({}), "1000");
});

async function protocolErrors(sg: RunningShardgate): Promise<number> {
  const text = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  return metricValue(text, "shardgate_downstream_client_errors_total", { code: "h2_protocol_error" }) ?? 0;
}

for (const [name, sg, url] of [
  ["h2c", () => plain, () => plain.httpUrl],
  ["h2 over TLS", () => tls, () => `https://127.0.0.1:${new URL(tls.httpUrl).port}`],
] as const) {
  test(`${name}: an idle keep-alive session and an idle long-lived call outlive several sweeps`, async () => {
    const idle = await session(url());
    assert.equal(Number((await grpcCall(idle.s, "/quick/0", "live")).head?.[":status"]), 200);
    const held = await session(url());
    const call = holdCall(held.s);
    await eventually("the held call's first message", () => (call.got() > 0 ? true : undefined));
    const memberSessions = up.sessions;
    await new Promise((r) => setTimeout(r, QUIET_MS));

    assert.deepEqual(idle.ended, [], "the idle session was left alone");
    assert.deepEqual(held.ended, [], "the session of the held call was left alone");
    assert.equal(call.closed(), false, "the held call is still open");
    assert.equal(up.sessions, memberSessions, "shardgate's session to the member, idle meanwhile, was kept");
    // Both sessions still serve; the member's side too.
    assert.equal(Number((await grpcCall(idle.s, "/quick/0", "live")).head?.[":status"]), 200);
    assert.equal(Number((await grpcCall(held.s, "/quick/0", "live")).head?.[":status"]), 200);
    assert.equal(up.sessions, memberSessions, "no new session to the member");
    call.st.close();
    idle.s.close();
    held.s.close();
    assert.equal(await protocolErrors(sg()), 0, "nothing counted as h2_protocol_error");
  });
}

test("h2c: a client that stops reading its socket mid-answer outlives several sweeps and then gets all of it", async () => {
  const s = connect(Number(new URL(plain.httpUrl).port), "127.0.0.1");
  s.on("error", () => {});
  const server = readServerFrames(s);
  const settings = Buffer.alloc(6);
  settings.writeUInt16BE(4, 0); // SETTINGS_INITIAL_WINDOW_SIZE: the largest, so only TCP holds the answer back
  settings.writeUInt32BE(0x7fffffff, 2);
  const connectionWindow = Buffer.alloc(4);
  connectionWindow.writeUInt32BE(0x7fffffff - 65_535, 0);
  const head = Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http
    literal(":path", `/firehose/${FIREHOSE_BYTES}`),
    literal(":authority", "127.0.0.1"),
    literal("content-type", "application/grpc"),
    literal("te", "trailers"),
    literal("x-user-id", "live"),
  ]);
  s.write(
    Buffer.concat([
      PREFACE,
      frame(4, 0, 0, settings),
      frame(8, 0, 0, connectionWindow),
      frame(1, 0x5, 1, head), // END_STREAM | END_HEADERS
    ]),
  );
  // Stops reading once the answer began: shardgate's writes back up in the kernel's buffers.
  await eventually("the answer's first bytes", () => (server.dataBytes > 0 ? true : undefined));
  s.pause();
  const stalledAt = server.dataBytes;
  await new Promise((r) => setTimeout(r, QUIET_MS));
  assert.equal(server.isClosed, false, "the slow reader's connection was left open");
  s.resume();
  await eventually(
    `all ${FIREHOSE_BYTES} bytes read (stalled at ${stalledAt})`,
    () => (server.dataBytes >= FIREHOSE_BYTES ? true : undefined),
    scaled(30_000),
  );
  assert.equal(server.goaway, -1, "no GOAWAY");
  assert.ok(stalledAt < FIREHOSE_BYTES, `the reader stalled mid-answer (${stalledAt} bytes read by then)`);
  s.destroy();
  assert.equal(await protocolErrors(plain), 0, "nothing counted as h2_protocol_error");
  assert.equal(plain.proc.exit, undefined, `shardgate exited\n${plain.proc.output()}`);
});

// Last: it stops the h2c process.
test("h2c: a call still running while shardgate drains (its GOAWAY sent) finishes across several sweeps", async () => {
  const { s, ended } = await session(plain.httpUrl);
  const from = up.streams.length;
  const call = grpcCall(s, `/quick/${QUIET_MS}`, "live");
  await eventually("the call open at the member", () => (up.streams.length > from ? true : undefined));
  plain.proc.signal("SIGTERM");
  const answer = await call;
  assert.equal(Number(answer.head?.[":status"]), 200, JSON.stringify(answer));
  assert.equal(answer.trailers?.["grpc-status"], "0", JSON.stringify(answer));
  assert.ok(answer.ms >= QUIET_MS, `answered after ${Math.round(answer.ms)} ms`);
  assert.ok(ended.includes("goaway 0"), `the drain's GOAWAY came (${ended.join(", ")})`);
  const exit = await eventually("shardgate exited", () => plain.proc.exit, scaled(20_000));
  assert.equal(exit.code, 0, plain.proc.output());
  s.destroy();
});
