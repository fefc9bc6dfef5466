// Tried from the outside: many streams on one client connection against an h2c pool whose
// members allow 100 streams each (SETTINGS_MAX_CONCURRENT_STREAMS). Real shardgate process,
// node:http2 client and upstreams on loopback.
//
// Found: a stream shardgate opened on a member's session that was already at the member's
// stream limit waits in nghttp2's queue, and its request body cannot go until a slot frees; the
// response timeout starts only once the body was sent, so a gRPC call (always a body) queued
// behind 100 long-lived streams (watches, server-streams) never got any answer: 20 such calls
// were still open 3x the response timeout later. Now (proxy/forward/h2-stream-slots.ts) the
// response timeout of a queued stream runs from the moment it was queued: it gets 14
// UNAVAILABLE `upstream_stream_limit` (never sent: not the member's failure;
// h2-grpc-outcomes.test.ts) after `timeouts.response` at the latest.
//
// Found too: 1,000 gRPC calls arriving at once on a cold pool all failed 14 UNAVAILABLE
// upstream_connect_failed against healthy members (on a loaded machine with the default 1 s
// connect timeout; always with 200 ms). The streams arrive in one read and are dispatched in one
// turn of the loop; the member session's connect timer, due meanwhile, ran in the next turn's
// timers phase, before the poll phase that delivers the completed connect, and destroyed it. Now
// (proxy/forward/h2-sessions.ts) the verdict waits for that turn's I/O. The HTTP status alone
// (200) hid it: the test reads grpc-status. Queued, not lost: every call answered grpc-status 0,
// never more than 100 streams open per member session (the burst pool opens more sessions per
// member, pools.P.http2.maxSessions; the held pool keeps one, so its calls queue, and does not
// retry, so a call never sent is answered, not held on the other member:
// h2-unprocessed-retry.test.ts tries that retry).

import assert from "node:assert/strict";
import { type ClientHttp2Session, connect } from "node:http2";
import { after, before, test } from "node:test";
import { grpcCall, type H2Answer } from "../support/h2-fixture.js";
import { type FlowUpstream, startFlowUpstream } from "../support/h2-flow-upstream.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const RESPONSE_MS = 3000;
/**
 * The burst pool's connect timeout: shorter than the turn in which shardgate takes the 1,000
 * streams (one read, each dispatched before the loop moves on), so a connect verdict given in
 * that turn's timers phase, before its I/O, fails a session that connected in time.
 */
const BURST_CONNECT_MS = 200;
const MEMBER_STREAMS = 100;
const SEED = testSeed(5_120_412);

let members: FlowUpstream[] = [];
let sg: RunningShardgate;

before(async () => {
  members = [await startFlowUpstream(MEMBER_STREAMS), await startFlowUpstream(MEMBER_STREAMS)];
  const list = members.map((m, i) => `      - { id: g${i}, address: "127.0.0.1:${m.port}" }`).join("\n");
  // The listener takes 1,000 streams per connection, so the members' limit is the one that
  // bites. Two pools on the same members (sessions shared per member address): /quick waits for
  // slots with a response timeout no loaded machine reaches; /hold with a short one.
  const pool = (timeouts: string, extra = ""): string =>
    `    algorithm: ring\n    protocol: h2c\n    members:\n${list}\n    timeouts: { ${timeouts} }\n    breaker: { enabled: false }\n${extra}`;
  sg = await startShardgate(`listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
  http2: { maxConcurrentStreams: 1000 }
  timeouts: { headers: 60s, request: 120s, idle: 120s, keepAlive: 120s, send: 120s }
admin:
  token: ""
log:
  level: info
  accessLog: true
pools:
  burst:
${pool(`connect: ${BURST_CONNECT_MS}ms, response: 60s`)}  held:
${pool(`response: ${RESPONSE_MS}ms`, "    http2: { maxSessions: 1 }\n    retry: { attempts: 1 }\n")}routes:
  - match: { pathPrefix: /quick/ }
    pool: burst
    key: [header:x-user-id]
  - match: { pathPrefix: / }
    pool: held
    key: [header:x-user-id]
`);
});

after(async () => {
  await stopAll();
  for (const m of members) await m.close();
});

async function openSession(): Promise<ClientHttp2Session> {
  const session = connect(sg.httpUrl);
  session.on("error", () => {});
  await new Promise<void>((r) => session.once("remoteSettings", () => r()));
  return session;
}

test("1,000 concurrent streams on one connection, members allowing 100 each: all answered, none lost", async () => {
  const session = await openSession();
  try {
    assert.equal(session.remoteSettings.maxConcurrentStreams, 1000);
    const random = seededRandom(SEED);
    const start = members.map((m) => m.streams.length);
    const calls: Promise<H2Answer>[] = [];
    for (let i = 0; i < 1000; i++)
      calls.push(grpcCall(session, "/quick/20", `k${Math.floor(random() * 1e9)}`));
    const all = await Promise.race([
      Promise.all(calls),
      new Promise<null>((r) => setTimeout(() => r(null), scaled(60_000)).unref()),
    ]);
    assert.ok(all !== null, `streams still open after 60 s; ${seedNote(SEED)}`);
    // gRPC answers are all HTTP 200: the outcome is grpc-status (trailers, or the head when
    // shardgate answered itself), with the shardgate code beside it.
    const outcomes = new Map<string, number>();
    for (const o of all) {
      const k = `${o.head?.[":status"]} grpc-status ${o.trailers?.["grpc-status"] ?? o.head?.["grpc-status"]} ${o.head?.["x-shardgate-error"] ?? ""}`;
      outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    }
    assert.deepEqual([...outcomes], [["200 grpc-status 0 ", 1000]], `${seedNote(SEED)}`);
    const reached = members.map((m, i) => m.streams.length - start[i]);
    // Each stream reached a member exactly once, and the seeded keys spread over both.
    assert.equal(reached[0] + reached[1], 1000, `streams per member: ${reached}; ${seedNote(SEED)}`);
    assert.ok(Math.min(...reached) > 100, `streams per member: ${reached}; ${seedNote(SEED)}`);
    for (const m of members)
      assert.ok(
        m.maxOpenPerSession <= MEMBER_STREAMS,
        `a member session had ${m.maxOpenPerSession} streams open at once`,
      );
  } finally {
    session.destroy();
  }
});

test("gRPC calls queued behind a member's 100 held streams get UNAVAILABLE upstream_stream_limit by the response timeout, not held forever", async () => {
  // One key: every call goes to the same member.
  const session = await openSession();
  const holds: Promise<H2Answer>[] = [];
  try {
    for (let i = 0; i < MEMBER_STREAMS; i++) holds.push(grpcCall(session, "/hold", "same"));
    const member = await eventually(
      "the member holding all 100 streams",
      () => members.find((u) => u.open === MEMBER_STREAMS),
      30_000,
    );
    const queued: Promise<H2Answer>[] = [];
    for (let i = 0; i < 20; i++) queued.push(grpcCall(session, "/hold", "same"));
    // Bounded wait: 3x the response timeout (scaled) is far past what they may take.
    const out = await Promise.race([
      Promise.all(queued),
      new Promise<null>((r) => setTimeout(() => r(null), scaled(3 * RESPONSE_MS + 5000)).unref()),
    ]);
    assert.ok(out !== null, "calls queued behind the member's stream limit were never answered");
    for (const o of out) {
      assert.equal(o.head?.[":status"], 200);
      assert.equal(o.head?.["grpc-status"], "14", JSON.stringify(o.head));
      assert.equal(o.head?.["x-shardgate-error"], "upstream_stream_limit");
    }
    // The held streams were never disturbed; the member never had more than its limit open.
    assert.equal(member.open, MEMBER_STREAMS);
    assert.ok(
      member.maxOpenPerSession <= MEMBER_STREAMS,
      `a member session had ${member.maxOpenPerSession} streams open`,
    );
  } finally {
    session.destroy();
    await Promise.all(holds);
  }
});
