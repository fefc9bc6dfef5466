// Tried from the outside: cancellation both ways and gRPC deadlines through an h2c pool. Real
// shardgate process, @grpc/grpc-js and node:http2 clients, a node:http2 member that records the
// RST_STREAM code each of its streams ended with (test/support/h2-flow-upstream.ts).
//
// Found: an answer complete while the client was still uploading (grpc-timeout passed during a
// client-streaming call; the member reset the stream before its answer) left the client's stream
// open: Node closes such a stream itself only if no byte of the body was ever read, and shardgate
// had piped some upstream. The client had its status but the stream (one of the connection's
// concurrent streams) and its access line waited until the client stopped sending: 500 messages
// over 10 s later it was still open. Now (proxy/server/h2-answered-upload.ts) the stream is reset
// NO_ERROR after the answer's trailers (a reset before them lost grpc-status: checked here too).
//
// Held, kept as guards:
//   - a client cancelling mid-stream, or before any answer: the member's stream is reset CANCEL
//     within seconds, the access line says the client left (downstream_disconnected, 499);
//   - a member resetting mid-stream, or before its answer while the client still uploads: the
//     client gets 14 UNAVAILABLE (in the trailers once the answer began), never a hang; the
//     access line says upstream_reset, counted against the member;
//   - grpc-timeout shorter than the member's answer, before or after the answer began, from a
//     client that does not enforce its own deadline: 4 DEADLINE_EXCEEDED from shardgate, the
//     member's stream reset CANCEL, no upstream error counted against the member.

import assert from "node:assert/strict";
import { connect, type IncomingHttpHeaders } from "node:http2";
import { after, before, test } from "node:test";
import { type Client, status } from "@grpc/grpc-js";
import {
  accessLineOf,
  EMPTY_MESSAGE,
  grpcCall,
  grpcClient,
  ident,
  memberErrors,
  startH2cFixture,
  tenant,
} from "../support/h2-fixture.js";
import type { FlowStream, FlowUpstream } from "../support/h2-flow-upstream.js";
import { fetchJson, metricValue, type RunningShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

/** "Promptly": the member's stream is reset well within this (a loaded 2-core machine). */
const PROMPT_MS = 10_000;

let up: FlowUpstream;
let sg: RunningShardgate;
let client: Client;

before(async () => {
  ({ up, sg } = await startH2cFixture({ request: "120s" }));
  client = grpcClient(sg);
});

after(async () => {
  client.close();
  await stopAll();
  await up.close();
});

/** The member's stream for `path` opened after `from` streams, once it ended; its RST code. */
function memberStreamEnd(from: number, path: string): Promise<FlowStream> {
  return eventually(
    `the member's ${path} stream to end`,
    () => up.streams.slice(from).find((s) => s.path === path && s.rstCode >= 0),
    PROMPT_MS,
  );
}

test("a grpc-js client cancelling a server-streaming call mid-stream: the member's stream is reset CANCEL; logged as the client leaving", async () => {
  const from = up.streams.length;
  const call = client.makeServerStreamRequest("/hold", ident, ident, Buffer.alloc(0), tenant("c1"));
  let requestId = "";
  call.on("metadata", (md) => {
    requestId = String(md.get("x-request-id")[0] ?? "");
  });
  const code = new Promise<number>((resolve) => call.on("status", (st) => resolve(st.code)));
  call.on("error", () => {});
  await new Promise<void>((r) => call.once("data", () => r()));
  const cancelledAt = performance.now();
  call.cancel();
  assert.equal(await code, status.CANCELLED);
  const s = await memberStreamEnd(from, "/hold");
  assert.equal(s.rstCode, 8, "RST_STREAM CANCEL to the member");
  assert.ok(
    s.closedAt - cancelledAt < PROMPT_MS,
    `reset ${Math.round(s.closedAt - cancelledAt)} ms after the cancel`,
  );
  const line = await accessLineOf(sg, requestId);
  assert.equal(line.status, 200);
  assert.equal(line.error, "downstream_disconnected");
});

test("a client cancelling before any answer: the member's stream is reset CANCEL; logged 499", async () => {
  const from = up.streams.length;
  const call = client.makeUnaryRequest("/slow", ident, ident, Buffer.alloc(0), tenant("c2"), () => undefined);
  const code = new Promise<number>((resolve) => call.on("status", (st) => resolve(st.code)));
  await eventually("the member's /slow stream", () => up.streams.slice(from).find((s) => s.path === "/slow"));
  const cancelledAt = performance.now();
  call.cancel();
  assert.equal(await code, status.CANCELLED);
  const s = await memberStreamEnd(from, "/slow");
  assert.equal(s.rstCode, 8, "RST_STREAM CANCEL to the member");
  assert.ok(
    s.closedAt - cancelledAt < PROMPT_MS,
    `reset ${Math.round(s.closedAt - cancelledAt)} ms after the cancel`,
  );
  await sg.proc.waitForLine(
    "the access line of the cancelled /slow call",
    (l) => l.type === "access" && l.path === "/slow" && l.status === 499,
  );
});

test("a member resetting mid-stream: the grpc-js client gets UNAVAILABLE from the trailers; logged upstream_reset", async () => {
  const before = await memberErrors(sg, "reset");
  const call = client.makeServerStreamRequest("/reset", ident, ident, Buffer.alloc(0), tenant("r1"));
  let requestId = "";
  let messages = 0;
  call.on("metadata", (md) => {
    requestId = String(md.get("x-request-id")[0] ?? "");
  });
  call.on("data", () => {
    messages++;
  });
  call.on("error", () => {});
  const st = await new Promise<{ code: number; details: string }>((resolve) => call.on("status", resolve));
  assert.equal(st.code, status.UNAVAILABLE, st.details);
  assert.match(st.details, /upstream_reset/);
  assert.equal(messages, 1, "the message sent before the reset was relayed");
  const line = await accessLineOf(sg, requestId);
  assert.equal(line.status, 200);
  assert.equal(line.error, "upstream_reset");
  assert.equal(await memberErrors(sg, "reset"), before + 1);
});

test("a member resetting before its answer while the client is still uploading: UNAVAILABLE, never a hang", async () => {
  const call = client.makeClientStreamRequest("/reset-early", ident, ident, tenant("r2"), () => undefined);
  call.on("error", () => {});
  const st = new Promise<{ code: number; details: string }>((resolve) => call.on("status", resolve));
  // One small message every 20 ms, at most 1,000 of them (20 s): the reset comes at 300 ms.
  let sent = 0;
  const t = setInterval(() => {
    if (sent++ < 1000) call.write(Buffer.from("x"));
  }, 20);
  try {
    const out = await st;
    assert.equal(out.code, status.UNAVAILABLE, out.details);
    assert.match(out.details, /upstream_reset/);
    assert.ok(sent < 1000, `the call lasted through all ${sent} messages`);
  } finally {
    clearInterval(t);
    call.end();
  }
});

test("grpc-timeout shorter than the member's answer: DEADLINE_EXCEEDED, the member's stream reset CANCEL, not the member's failure", async () => {
  const timeoutsBefore = await memberErrors(sg, "timeout");
  const session = connect(sg.httpUrl);
  session.on("error", () => {});
  try {
    // Before the answer: trailers-only 4.
    let from = up.streams.length;
    const early = await grpcCall(session, "/slow", "d1", "500m");
    assert.equal(early.head?.["grpc-status"], "4", JSON.stringify(early.head));
    assert.equal(early.head?.["x-shardgate-error"], "deadline_exceeded");
    assert.equal((await memberStreamEnd(from, "/slow")).rstCode, 8, "the member's stream reset CANCEL");
    // After the answer began: 200, one message, then grpc-status 4 in the trailers.
    from = up.streams.length;
    const late = await grpcCall(session, "/hold", "d2", "500m");
    assert.equal(late.head?.[":status"], 200);
    assert.equal(late.head?.["grpc-status"], undefined);
    assert.equal(late.trailers?.["grpc-status"], "4", JSON.stringify(late));
    assert.equal((await memberStreamEnd(from, "/hold")).rstCode, 8, "the member's stream reset CANCEL");
  } finally {
    session.destroy();
  }
  // The client's deadline is not the member's failure: no timeout counted, breaker closed.
  assert.equal(await memberErrors(sg, "timeout"), timeoutsBefore);
  const text = (await fetchJson(`${sg.adminUrl}/metrics`)).text;
  assert.equal(metricValue(text, "shardgate_breaker_state", { pool: "users", member: "g1" }), 0);
});

interface Upload {
  head: IncomingHttpHeaders | null;
  trailers: IncomingHttpHeaders | null;
  /** The stream's RST code at its close (0: NO_ERROR), or null if it was still open at the bound. */
  rstCode: number | null;
  sent: number;
}

/**
 * A call on raw node:http2 whose client keeps uploading (`message` every 20 ms, at most 500 times)
 * and never ends its side; settles when the stream closes, or after 20 s (scaled) with it open.
 */
function uploadingCall(
  path: string,
  headers: Record<string, string>,
  message = EMPTY_MESSAGE,
): Promise<Upload> {
  const session = connect(sg.httpUrl);
  session.on("error", () => {});
  const st = session.request({ ":method": "POST", ":path": path, ...headers });
  st.on("error", () => {});
  const out: Upload = { head: null, trailers: null, rstCode: null, sent: 0 };
  st.on("response", (h) => {
    out.head = h;
  });
  st.on("trailers", (tr) => {
    out.trailers = tr;
  });
  st.on("data", () => {});
  const pump = setInterval(() => {
    if (out.sent < 500 && !st.destroyed) {
      out.sent++;
      st.write(message);
    }
  }, 20);
  return new Promise<Upload>((resolve) => {
    const bound = setTimeout(() => resolve(out), scaled(20_000));
    st.on("close", () => {
      out.rstCode = st.rstCode ?? -1;
      clearTimeout(bound);
      resolve(out);
    });
  }).finally(() => {
    clearInterval(pump);
    session.destroy();
  });
}

const GRPC_HEADERS = { "content-type": "application/grpc", te: "trailers" };

test("grpc-timeout passing while the client still uploads: DEADLINE_EXCEEDED, then the stream is closed (NO_ERROR) and logged", async () => {
  // Before any answer (the member reads nothing): trailers-only 4.
  let from = up.streams.length;
  const early = await uploadingCall("/sink", { ...GRPC_HEADERS, "grpc-timeout": "500m", "x-user-id": "u1" });
  assert.equal(early.head?.["grpc-status"], "4", JSON.stringify(early.head));
  assert.equal(
    early.rstCode,
    0,
    `the stream still open after ${early.sent} messages sent on past the answer`,
  );
  assert.equal((await memberStreamEnd(from, "/sink")).rstCode, 8, "the member's stream reset CANCEL");
  const line = await accessLineOf(sg, String(early.head?.["x-request-id"]));
  assert.equal(line.error, "deadline_exceeded");
  // After the answer began (a bidirectional call): grpc-status 4 in the trailers, which come
  // before the stream's reset.
  from = up.streams.length;
  const late = await uploadingCall("/hold", { ...GRPC_HEADERS, "grpc-timeout": "500m", "x-user-id": "u2" });
  assert.equal(late.head?.[":status"], 200);
  assert.equal(late.trailers?.["grpc-status"], "4", JSON.stringify(late));
  assert.equal(late.rstCode, 0, `the stream still open after ${late.sent} messages sent on past the answer`);
  assert.equal((await memberStreamEnd(from, "/hold")).rstCode, 8, "the member's stream reset CANCEL");
});

test("a member resetting before its answer while a plain HTTP/2 client still uploads: 502 upstream_reset, then the stream is closed", async () => {
  // 16 KiB every 20 ms to a member reading none: when it resets, body bytes are backed up in
  // shardgate (its stream to the member full), which the reset must not leave unread.
  const r = await uploadingCall(
    "/reset-early",
    { "content-type": "application/octet-stream", "x-user-id": "u3" },
    Buffer.alloc(16 * 1024, 0x75),
  );
  assert.equal(r.head?.[":status"], 502);
  assert.equal(r.head?.["content-type"], "application/json");
  assert.equal(r.rstCode, 0, `the stream still open after ${r.sent} messages sent on past the answer`);
  const line = await accessLineOf(sg, String(r.head?.["x-request-id"]));
  assert.equal(line.error, "upstream_reset");
});
