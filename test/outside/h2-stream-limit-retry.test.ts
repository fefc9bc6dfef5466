// Tried from the outside: a request queued behind an h2c member's stream limit
// (SETTINGS_MAX_CONCURRENT_STREAMS) past the response timeout was never sent, so it is retried
// on the next member under the pool's retry rules, as a connect failure is. Real shardgate
// process, node:http2 client, two node:http2 members (test/support/h2-flow-upstream.ts).
//
// Found: such a request was answered `upstream_stream_limit` at once, though another member
// could have served it and the first one never saw it.

import assert from "node:assert/strict";
import { type ClientHttp2Session, connect } from "node:http2";
import { test } from "node:test";
import {
  grpcCall,
  type H2Answer,
  h2Call,
  h2cPoolConfig,
  keyOwnedBy,
  memberErrors,
} from "../support/h2-fixture.js";
import { startFlowUpstream } from "../support/h2-flow-upstream.js";
import { seedNote, testSeed } from "../support/prng.js";
import { type RunningShardgate, startShardgate } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const SEED = testSeed(1207);
const RESPONSE_MS = 1500;

test("a GET queued behind a member's stream limit past the response timeout is answered by the next member", async () => {
  const narrow = await startFlowUpstream(1);
  const wide = await startFlowUpstream();
  let sg: RunningShardgate | null = null;
  let session: ClientHttp2Session | null = null;
  let hold: Promise<H2Answer> | null = null;
  try {
    sg = await startShardgate(
      h2cPoolConfig(
        [
          { id: "g1", port: narrow.port },
          { id: "g2", port: wide.port },
        ],
        // One session per member: the queue behind its stream limit is what is tried here.
        { response: `${RESPONSE_MS}ms`, poolExtra: "    http2: { maxSessions: 1 }\n" },
      ),
    );
    const key = await keyOwnedBy(sg, "g1", SEED);
    session = connect(sg.httpUrl);
    session.on("error", () => {});
    // g1's one stream, held by a long call (answered, so its own response timeout stopped).
    hold = grpcCall(session, "/hold", key);
    await eventually("g1 holding its one stream", () => (narrow.open === 1 ? true : undefined), 30_000);
    const narrowFrom = narrow.streams.length;
    const wideFrom = wide.streams.length;
    const queued = await Promise.race([
      h2Call(session, { ":method": "GET", ":path": "/quick/0", "x-user-id": key }),
      new Promise<null>((r) => setTimeout(() => r(null), scaled(3 * RESPONSE_MS + 10_000)).unref()),
    ]);
    const note = `${seedNote(SEED)} key=${key}`;
    assert.ok(queued !== null, `the queued request was never answered (${note})`);
    if (Number(queued.head?.[":status"]) !== 200) {
      // Name what the proxy logged for it, so a failure says which attempt timed out and where.
      const seen = await sg.proc
        .waitForLine("the failed request's access line", (l) => l.requestId === queued.head?.["x-request-id"])
        .catch((err: unknown) => String(err));
      assert.fail(`${JSON.stringify(queued.head)} logged ${JSON.stringify(seen)} (${note})`);
    }
    assert.equal(queued.head?.["x-shardgate-error"], undefined, note);
    assert.equal(queued.trailers?.["grpc-status"], "0", `g2's answer relayed whole (${note})`);
    assert.equal(narrow.streams.length, narrowFrom, "the queued request never reached g1");
    assert.deepEqual(
      wide.streams.slice(wideFrom).map((s) => s.path),
      ["/quick/0"],
      "g2 got the request once",
    );
    const line = await sg.proc.waitForLine(
      "the access line of the queued request",
      (l) => l.type === "access" && l.requestId === queued.head?.["x-request-id"],
    );
    assert.equal(line.member, "g2");
    assert.equal(line.error ?? null, null);
    // g1 never got it: not its timeout, nor its connect failure.
    assert.equal(await memberErrors(sg, "timeout", "g1"), 0);
    assert.equal(await memberErrors(sg, "connect", "g1"), 0);
  } finally {
    session?.destroy();
    if (hold !== null) await hold;
    await sg?.stop();
    await narrow.close();
    await wide.close();
  }
});
