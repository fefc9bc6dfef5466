// Tried from the outside: HTTP/2 members that take fewer streams than a new session assumes.
// - A node:http2 member with SETTINGS_MAX_CONCURRENT_STREAMS 1, the only member of its pool, and
//   a burst of calls on a fresh shardgate. Calls sent on a new session before its first SETTINGS
//   assumed nghttp2's 100 streams; the member refused those above 1 (REFUSED_STREAM), each was
//   sent once more, on new sessions that assumed 100 again, and a call refused twice was lost:
//   502 upstream_reset, counted as a reset against a healthy member (seen: 1 of 20 calls, 4 of
//   50). Now a new session assumes the limit the member advertised on another (nghttp2 queues
//   above it), and every call is answered.
// - A member that refuses every stream (REFUSED_STREAM: RFC 9113 section 8.7, nothing processed).
//   A stream refused twice counted as a reset against the member: upstream_errors_total
//   kind="reset" and its breaker (3 in a row opened it, for the whole fleet). A refusal is the
//   member saying "not now", not failing: now it is answered 503 upstream_stream_limit (no other
//   member here to try), as a call that waited out the member's stream limit is, and nothing is
//   counted against the member.
// Real shardgate processes, node:http2 members, loopback.

import assert from "node:assert/strict";
import { createServer, type Http2Server } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { type RefusingUpstream, startRefusingUpstream } from "../support/h2-refusing-upstream.js";
import { seedNote, testSeed } from "../support/prng.js";
import {
  eventually,
  fetchJson,
  metricValue,
  poolConfig,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";

const SEED = testSeed(0x5_1e7_1);
/** Calls sent at once on a fresh instance. */
const BURST = 60;
/** Sequential calls to the refusing member: more than the breaker's 3 in a row. */
const REFUSED_CALLS = 5;

let narrow: Http2Server | undefined;
let refusing: RefusingUpstream | undefined;
after(async () => {
  await stopAll();
  await new Promise((r) => (narrow === undefined ? r(undefined) : narrow.close(r)));
  await refusing?.close();
});

function h2Pool(port: number): string {
  return poolConfig({
    members: [{ id: "n1", port }],
    accessLog: true,
    poolExtra:
      "    protocol: h2c\n    breaker: { consecutiveFailures: 3, failureRate: 0.5, minRequests: 5, openFor: 60s }\n",
  });
}

test("a member allowing one stream: a burst on new sessions is answered whole, nothing counted against it", async () => {
  // Each call held 50 ms, so the burst overlaps on the member's one stream per session.
  narrow = createServer({ settings: { maxConcurrentStreams: 1 } });
  narrow.on("stream", (stream) => {
    setTimeout(() => {
      if (stream.destroyed) return;
      stream.respond({ ":status": 200 });
      stream.end("ok");
    }, 50);
  });
  await new Promise<void>((r) => narrow?.listen(0, "127.0.0.1", r));
  const sg = await startShardgate(h2Pool((narrow.address() as AddressInfo).port));
  const answers = await Promise.all(
    Array.from({ length: BURST }, async (_, i) => {
      try {
        const res = await fetch(`${sg.httpUrl}/burst/${i}`, {
          method: "POST",
          body: `call ${i}`,
          headers: { "x-user-id": `k-${SEED}` },
        });
        return `${res.status} ${await res.text()}`;
      } catch (err) {
        return `error ${String(err)}`;
      }
    }),
  );
  const lost = answers.filter((a) => a !== "200 ok");
  assert.deepEqual(
    lost,
    [],
    `${lost.length} of ${BURST} calls not answered by the member (${seedNote(SEED)})`,
  );
  const metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  for (const kind of ["connect", "reset", "timeout"])
    assert.equal(
      metricValue(metrics, "shardgate_upstream_errors_total", { pool: "users", member: "n1", kind }) ?? 0,
      0,
      `upstream_errors_total kind=${kind}`,
    );
});

test("a member refusing every stream (REFUSED_STREAM): 503 upstream_stream_limit, not a reset against it", async () => {
  refusing = await startRefusingUpstream("refuse");
  const member = refusing;
  const sg = await startShardgate(h2Pool(member.port));
  for (let i = 0; i < REFUSED_CALLS; i++) {
    const res = await fetch(`${sg.httpUrl}/refused/${i}`, {
      method: "POST",
      body: `call ${i}`,
      headers: { "x-user-id": `k-${SEED}` },
    });
    const body = await res.text();
    assert.equal(res.status, 503, body);
    assert.match(body, /"error":"upstream_stream_limit"/, body);
  }
  // Each call was refused twice by the member: sent once more there before the answer.
  assert.equal(member.streams, 2 * REFUSED_CALLS, `the member saw ${member.streams} streams`);
  const metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  for (const kind of ["connect", "reset", "timeout"])
    assert.equal(
      metricValue(metrics, "shardgate_upstream_errors_total", { pool: "users", member: "n1", kind }) ?? 0,
      0,
      `upstream_errors_total kind=${kind}`,
    );
  const state = await fetchJson(`${sg.adminUrl}/admin/state`);
  const n1 = (
    state.body as { pools: { users: { members: { id: string; breaker: string }[] } } }
  ).pools.users.members.find((m) => m.id === "n1");
  assert.equal(n1?.breaker, "closed", JSON.stringify(state.body));
  const lines = await eventually("an access line per refused call", () => {
    const l = sg.proc.lines.filter((x) => x.type === "access" && String(x.path).startsWith("/refused/"));
    return l.length >= REFUSED_CALLS ? l : undefined;
  });
  for (const l of lines) assert.equal(l.error, "upstream_stream_limit", JSON.stringify(l));
});
