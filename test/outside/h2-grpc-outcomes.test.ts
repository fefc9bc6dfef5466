// Tried from the outside: how gRPC calls through an h2c pool end when neither a member's answer
// nor a member's failure ends them, and whose failure each one is. Real shardgate processes,
// @grpc/grpc-js and node:http2 clients, node:http2 members (test/support/h2-flow-upstream.ts).
//
// Found:
//   - a member that ended a call cleanly after its DATA with no trailers (no grpc-status) had
//     the call relayed as it was, with no status, logged `error: null`: now the client gets 13
//     INTERNAL in the trailers, logged `upstream_no_grpc_status` and counted against the member;
//   - a call whose own deadline (grpc-timeout) passed was logged `upstream_timeout`, the
//     member's code: now `deadline_exceeded` (still 4 DEADLINE_EXCEEDED, still not counted);
//   - a call queued behind a member's stream limit (SETTINGS_MAX_CONCURRENT_STREAMS) past the
//     response timeout, never sent, counted an upstream timeout against the member: now it is
//     `upstream_stream_limit` (14 UNAVAILABLE), counted against nobody.

import assert from "node:assert/strict";
import { type ClientHttp2Session, connect } from "node:http2";
import { after, before, test } from "node:test";
import { type Client, status } from "@grpc/grpc-js";
import {
  accessLineOf,
  grpcCall,
  grpcClient,
  type H2Answer,
  h2cPoolConfig,
  ident,
  memberErrors,
  startH2cFixture,
  tenant,
} from "../support/h2-fixture.js";
import { type FlowUpstream, startFlowUpstream } from "../support/h2-flow-upstream.js";
import {
  fetchJson,
  metricValue,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const RESPONSE_MS = 1500;

let up: FlowUpstream;
let sg: RunningShardgate;
let client: Client;

before(async () => {
  ({ up, sg } = await startH2cFixture());
  client = grpcClient(sg);
});

after(async () => {
  client.close();
  await stopAll();
  await up.close();
});

interface LiveFigures {
  rate: number;
  errorRate: number;
}

/** The member's live figures (GET /admin/live: the dashboard's rate and error ratio). */
async function liveOf(s: RunningShardgate): Promise<LiveFigures | undefined> {
  const body = (await (await fetch(`${s.adminUrl}/admin/live`)).json()) as {
    pools: Record<string, Record<string, LiveFigures>>;
  };
  return body.pools.users?.g1;
}

test("a member ending a call without grpc-status: the grpc-js client gets INTERNAL, logged upstream_no_grpc_status, counted against the member", async () => {
  const resetsBefore = await memberErrors(sg, "reset");
  const call = client.makeServerStreamRequest("/no-status", ident, ident, Buffer.alloc(0), tenant("n1"));
  let requestId = "";
  let messages = 0;
  call.on("metadata", (md) => {
    requestId = String(md.get("x-request-id")[0] ?? "");
  });
  call.on("data", () => {
    messages++;
  });
  call.on("error", () => {});
  const st = await Promise.race([
    new Promise<{ code: number; details: string }>((resolve) => call.on("status", resolve)),
    new Promise<null>((r) => setTimeout(() => r(null), scaled(20_000)).unref()),
  ]);
  assert.ok(st !== null, "the call never ended");
  assert.equal(st.code, status.INTERNAL, st.details);
  assert.match(st.details, /upstream_no_grpc_status/);
  assert.equal(messages, 1, "the member's message was relayed");
  const line = await accessLineOf(sg, requestId);
  assert.equal(line.status, 200);
  assert.equal(line.error, "upstream_no_grpc_status");
  assert.equal(await memberErrors(sg, "reset"), resetsBefore + 1);
});

test("a call's own grpc-timeout passing: 4 DEADLINE_EXCEEDED, logged deadline_exceeded, not the member's timeout", async () => {
  const timeoutsBefore = await memberErrors(sg, "timeout");
  // The member's live window starts here (its first read), after the call of the test above.
  await liveOf(sg);
  const session = connect(sg.httpUrl);
  session.on("error", () => {});
  try {
    // Before the answer: trailers-only.
    const early = await grpcCall(session, "/slow", "d1", "300m");
    assert.equal(early.head?.["grpc-status"], "4", JSON.stringify(early.head));
    assert.equal(early.head?.["x-shardgate-error"], "deadline_exceeded");
    const l1 = await accessLineOf(sg, String(early.head?.["x-request-id"]));
    assert.equal(l1.error, "deadline_exceeded");
    // After the answer began: grpc-status 4 in the trailers.
    const late = await grpcCall(session, "/hold", "d2", "300m");
    assert.equal(late.head?.[":status"], 200);
    assert.equal(late.trailers?.["grpc-status"], "4", JSON.stringify(late));
    assert.match(String(late.trailers?.["grpc-message"]), /deadline_exceeded/);
    const l2 = await accessLineOf(sg, String(late.head?.["x-request-id"]));
    assert.equal(l2.error, "deadline_exceeded");
    // One call the member answers in time, so the window has a request to divide by.
    const ok = await grpcCall(session, "/quick/0", "d3");
    assert.equal(ok.trailers?.["grpc-status"], "0", JSON.stringify(ok));
  } finally {
    session.destroy();
  }
  assert.equal(await memberErrors(sg, "timeout"), timeoutsBefore);
  const text = (await fetchJson(`${sg.adminUrl}/metrics`)).text;
  assert.equal(metricValue(text, "shardgate_breaker_state", { pool: "users", member: "g1" }), 0);
  // The window's next sample (every 500 ms) holds the calls above: the deadlines are no error.
  const live = await eventually("a live window over the calls above", async () => {
    const l = await liveOf(sg);
    return l !== undefined && l.rate > 0 ? l : undefined;
  });
  assert.equal(live.errorRate, 0, `the member's error ratio: ${JSON.stringify(live)}`);
});

test("a call queued behind the member's stream limit past the response timeout: 14 UNAVAILABLE upstream_stream_limit, not counted against the member", async () => {
  // A member allowing one stream at a time, held by a long call; a short response timeout.
  const narrow = await startFlowUpstream(1);
  let s2: RunningShardgate | null = null;
  let session: ClientHttp2Session | null = null;
  let hold: Promise<H2Answer> | null = null;
  try {
    s2 = await startShardgate(
      // One session: the member's stream limit is the address's (no second session to open).
      h2cPoolConfig([{ id: "g1", port: narrow.port }], {
        response: `${RESPONSE_MS}ms`,
        poolExtra: "    http2: { maxSessions: 1 }\n",
      }),
    );
    session = connect(s2.httpUrl);
    session.on("error", () => {});
    // The held call is answered (its head relayed), so its response timeout no longer runs.
    hold = grpcCall(session, "/hold", "q");
    await eventually(
      "the member holding its one stream",
      () => (narrow.open === 1 ? true : undefined),
      30_000,
    );
    const from = narrow.streams.length;
    const queued = await Promise.race([
      grpcCall(session, "/quick/0", "q"),
      new Promise<null>((r) => setTimeout(() => r(null), scaled(3 * RESPONSE_MS + 10_000)).unref()),
    ]);
    assert.ok(queued !== null, "the queued call was never answered");
    assert.equal(queued.head?.[":status"], 200);
    assert.equal(queued.head?.["grpc-status"], "14", JSON.stringify(queued.head));
    assert.equal(queued.head?.["x-shardgate-error"], "upstream_stream_limit");
    assert.equal(narrow.streams.length, from, "the queued call never reached the member");
    const line = await accessLineOf(s2, String(queued.head?.["x-request-id"]));
    assert.equal(line.error, "upstream_stream_limit");
    assert.equal(line.member, "g1");
    assert.equal(await memberErrors(s2, "timeout"), 0, "an upstream timeout counted against the member");
  } finally {
    session?.destroy();
    if (hold !== null) await hold;
    await s2?.stop();
    await narrow.close();
  }
});
