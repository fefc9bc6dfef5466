// Tried from the outside with a @grpc/grpc-js client: a gRPC call (POST, with a body) that the
// member it was sent to never processed goes to the next member, though POST is not among the
// pool's retry methods (Envoy retries refused-stream / reset-before-request for any method):
//   - it waited in shardgate's queue for the member's one stream slot (http2.maxSessions 1) past
//     the response timeout, never sent;
//   - the member refused its stream with RST_STREAM REFUSED_STREAM (RFC 9113 section 8.7);
//   - the member's GOAWAY's last-stream-id is below it, on every session.
// Real shardgate process, two members: g1 (the key's owner) and g2 (a node:http2 member that
// answers /quick/0). Guard: a call g1 did get (it read one DATA frame, then reset the stream)
// is not retried.
//
// Found: each of the three failed (14 UNAVAILABLE upstream_stream_limit / upstream_reset)
// while g2 could have answered: the retry rules applied the retry methods (GET HEAD OPTIONS PUT
// DELETE) and "no body read yet" to requests the member never processed.

import assert from "node:assert/strict";
import { type ClientHttp2Session, connect } from "node:http2";
import { test } from "node:test";
import { type Client, type ServiceError, status } from "@grpc/grpc-js";
import {
  accessLineOf,
  grpcCall,
  grpcClient,
  type H2Answer,
  h2cPoolConfig,
  ident,
  keyOwnedBy,
  memberErrors,
  tenant,
} from "../support/h2-fixture.js";
import { type FlowUpstream, GRPC_MESSAGE, startFlowUpstream } from "../support/h2-flow-upstream.js";
import {
  type RefusingMode,
  type RefusingUpstream,
  startRefusingUpstream,
} from "../support/h2-refusing-upstream.js";
import { seedNote, testSeed } from "../support/prng.js";
import { type RunningShardgate, startShardgate } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const SEED = testSeed(91_138_7);
const RESPONSE_MS = 1500;
/** The member's answer to /quick/0: GRPC_MESSAGE's payload. */
const ANSWER = GRPC_MESSAGE.subarray(5);
/** The request message: a few bytes of body, so there is a body to keep and send again. */
const REQUEST = Buffer.from("shardgate-unprocessed-retry");

interface Outcome {
  err: ServiceError | null;
  value: Buffer | undefined;
  requestId: string;
}

/** One unary call for tenant `key`, with a deadline no loaded machine reaches. */
function unary(client: Client, path: string, key: string): Promise<Outcome> {
  return new Promise((resolve) => {
    let requestId = "";
    const call = client.makeUnaryRequest(
      path,
      ident,
      ident,
      REQUEST,
      tenant(key),
      { deadline: Date.now() + scaled(60_000) },
      (err, value) => {
        const id = err?.metadata?.get("x-request-id")[0];
        if (id !== undefined) requestId = String(id);
        resolve({ err, value, requestId });
      },
    );
    call.on("metadata", (md) => {
      requestId = String(md.get("x-request-id")[0] ?? "");
    });
  });
}

interface Pair {
  g2: FlowUpstream;
  sg: RunningShardgate;
  client: Client;
  key: string;
}

/** shardgate over g1 (at `g1Port`) and a fresh g2; `key` is owned by g1. Stops all after `body`. */
async function withPair(g1Port: number, poolExtra: string, body: (p: Pair) => Promise<void>): Promise<void> {
  const g2 = await startFlowUpstream();
  let sg: RunningShardgate | null = null;
  let client: Client | null = null;
  try {
    sg = await startShardgate(
      h2cPoolConfig(
        [
          { id: "g1", port: g1Port },
          { id: "g2", port: g2.port },
        ],
        { response: `${RESPONSE_MS}ms`, poolExtra },
      ),
    );
    const key = await keyOwnedBy(sg, "g1", SEED);
    client = grpcClient(sg);
    await body({ g2, sg, client, key });
  } finally {
    client?.close();
    await sg?.stop();
    await g2.close();
  }
}

async function answeredByG2(p: Pair, out: Outcome, note: string): Promise<void> {
  assert.equal(out.err, null, `${out.err?.code} ${out.err?.details} (${note})`);
  assert.deepEqual(out.value, ANSWER, note);
  assert.deepEqual(
    p.g2.streams.map((s) => [s.path, s.took]),
    [["/quick/0", 5 + REQUEST.length]],
    `g2 got the call once, with its whole body (${note})`,
  );
  const line = await accessLineOf(p.sg, out.requestId);
  assert.equal(line.member, "g2", note);
  assert.equal(line.error ?? null, null, note);
}

test("a gRPC call never sent (queued behind g1's one stream past the response timeout) is answered by g2", async () => {
  const narrow = await startFlowUpstream(1);
  let session: ClientHttp2Session | null = null;
  let hold: Promise<H2Answer> | null = null;
  try {
    await withPair(narrow.port, "    http2: { maxSessions: 1 }\n", async (p) => {
      const note = `${seedNote(SEED)} key=${p.key}`;
      session = connect(p.sg.httpUrl);
      session.on("error", () => {});
      // g1's one stream, held by a long call (answered, so its own response timeout stopped).
      hold = grpcCall(session, "/hold", p.key);
      await eventually("g1 holding its one stream", () => (narrow.open === 1 ? true : undefined), 30_000);
      const from = narrow.streams.length;
      const out = await unary(p.client, "/quick/0", p.key);
      await answeredByG2(p, out, note);
      assert.equal(narrow.streams.length, from, "the queued call never reached g1");
      assert.equal(await memberErrors(p.sg, "timeout", "g1"), 0, "not g1's timeout");
      // The held call ends here, before shardgate stops: its drain would wait for it otherwise.
      session.destroy();
    });
  } finally {
    (session as ClientHttp2Session | null)?.destroy();
    if (hold !== null) await hold;
    await narrow.close();
  }
});

for (const mode of ["refuse", "goaway"] as RefusingMode[]) {
  const how = mode === "refuse" ? "RST_STREAM REFUSED_STREAM" : "a GOAWAY whose last-stream-id is below it";
  test(`a gRPC call g1 refuses unprocessed (${how}) is answered by g2`, async () => {
    const g1: RefusingUpstream = await startRefusingUpstream(mode);
    try {
      await withPair(g1.port, "", async (p) => {
        const note = `${mode}; ${seedNote(SEED)} key=${p.key}`;
        const out = await unary(p.client, "/quick/0", p.key);
        await answeredByG2(p, out, note);
        // Sent once more to g1 on a session of its own first (a GOAWAY race), then to g2.
        assert.ok(g1.streams >= 1 && g1.streams <= 2, `g1 saw ${g1.streams} streams (${note})`);
      });
    } finally {
      await g1.close();
    }
  });
}

test("guard: a gRPC call g1 did get (one DATA frame read, then a reset) is not sent to g2", async () => {
  const g1 = await startRefusingUpstream("read-reset");
  try {
    await withPair(g1.port, "", async (p) => {
      const note = `${seedNote(SEED)} key=${p.key}`;
      const out = await unary(p.client, "/quick/0", p.key);
      assert.equal(out.err?.code, status.UNAVAILABLE, `${out.err?.code} ${out.err?.details} (${note})`);
      assert.ok(g1.took > 0, "g1 read part of the call");
      assert.equal(g1.streams, 1, "sent to g1 once");
      assert.equal(p.g2.streams.length, 0, `g2 never got it (${note})`);
      const line = await accessLineOf(p.sg, out.requestId);
      assert.equal(line.member, "g1");
      assert.equal(line.error, "upstream_reset");
    });
  } finally {
    await g1.close();
  }
});
