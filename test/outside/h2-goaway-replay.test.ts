// An HTTP/2 upstream that sends GOAWAY with a last-stream-id below a POST that is still
// streaming its body, tried from the outside: a real shardgate process, an h2c pool of one
// member, a node:http2 upstream whose first session takes part of the body of stream 1 and
// then says GOAWAY(NO_ERROR, last-stream-id 0): stream 1 was never processed (RFC 9113 section
// 6.8), so it is safe to send again on a new session, POST or not. Found: the POST failed 502
// upstream_reset, because its body had already been piped into the refused stream and was
// gone. Now the body sent so far is kept (up to 64 KiB, proxy/forward/body-replay.ts) and the
// re-send on the new session starts with it: the upstream gets the whole body, once. A body
// past the limit is not kept and fails as before (guard). The same POST cut by GOAWAY
// ENHANCE_YOUR_CALM (Node destroys that session at once) goes again the same way, body whole
// (h2-sessions.ts aboveMemberGoaway; on the code before it, 502 upstream_reset).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { request } from "node:http";
import { constants, createServer, type Http2Server, type Http2Session } from "node:http2";
import { after, before, test } from "node:test";
import { randomBytes, seededRandom, seedNote, testSeed } from "../support/prng.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

const SEED = testSeed(6_8_9113);
const random = seededRandom(SEED);

let upstream: Http2Server;
let sg: RunningShardgate;
/** Sessions the upstream accepted, in order. */
const sessions: Http2Session[] = [];
/** The session the current test's warm-up GET came on: its next POST gets the GOAWAY. */
let target: Http2Session | null = null;
/** Bytes of stream body after which the first session says GOAWAY (set per test), and its code. */
let goawayAfter = 0;
let goawayCode: number = constants.NGHTTP2_NO_ERROR;
let goawaySent: () => void = () => {};
/** Bodies of the streams the upstream processed (read to their end and answered). */
const processed: Buffer[] = [];
/** The sessions those streams came on, and the one that refused the last POST. */
const processedOn: Array<Http2Session | undefined> = [];
let refusedOn: Http2Session | undefined;

before(async () => {
  upstream = createServer();
  upstream.on("session", (s) => {
    sessions.push(s);
    s.on("error", () => {});
  });
  upstream.on("stream", (st, h) => {
    st.on("error", () => {});
    if (h[":path"] === "/warm") {
      // Node's goaway() takes a last-stream-id of 0 as "the last one processed": the POST must
      // come second on its session for a GOAWAY below it to be sent.
      target = st.session ?? null;
      st.respond({ ":status": 200 });
      st.end("warm");
      return;
    }
    const first = st.session === target;
    const parts: Buffer[] = [];
    let bytes = 0;
    let refused = false;
    st.on("data", (d: Buffer) => {
      parts.push(d);
      bytes += d.length;
      if (first && !refused && bytes >= goawayAfter) {
        refused = true;
        target = null;
        refusedOn = st.session;
        // This stream and any above it were not processed: the client may send them again.
        st.session?.goaway(goawayCode, (st.id ?? 1) - 2);
        goawaySent();
      }
    });
    st.on("end", () => {
      if (refused) return;
      const body = Buffer.concat(parts);
      processed.push(body);
      processedOn.push(st.session);
      const answer = JSON.stringify({ bytes: body.length, sha: sha(body) });
      st.respond({ ":status": 200, "content-type": "application/json" });
      st.end(answer);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
  const port = (upstream.address() as { port: number }).port;
  sg = await startShardgate(
    poolConfig({
      members: [{ id: "h1", port }],
      poolExtra: "    protocol: h2c\n    timeouts: { response: 20s }\n    breaker: { enabled: false }\n",
    }),
  );
});

after(async () => {
  await stopAll();
  for (const s of sessions) s.destroy();
  await new Promise((r) => upstream.close(r));
});

function sha(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

/** POSTs `first`, waits for the upstream's GOAWAY, then sends `rest`; resolves with the answer. */
function postAcrossGoaway(first: Buffer, rest: Buffer): Promise<{ status: number; body: string }> {
  const sent = new Promise<void>((r) => {
    goawaySent = r;
  });
  const url = new URL(sg.httpUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: "POST",
        path: "/upload",
        headers: { "x-user-id": "k", "content-length": first.length + rest.length },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (d: Buffer) => parts.push(d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
        res.on("error", reject);
      },
    );
    // After a 502 the rest of the body may meet a closed connection: the answer is what counts.
    req.on("error", () => {});
    req.write(first);
    void sent.then(() => req.end(rest));
  });
}

/** Sets the GOAWAY threshold and sends the warm-up GET that marks the session to refuse on. */
async function reset(after: number): Promise<void> {
  goawayAfter = after;
  refusedOn = undefined;
  processed.length = 0;
  processedOn.length = 0;
  const r = await fetch(`${sg.httpUrl}/warm`, { headers: { "x-user-id": "k" } });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  assert.ok(target !== null, "the warm-up reached the upstream");
}

// With an error code (a member shedding load: ENHANCE_YOUR_CALM) Node destroys the session at
// once instead of refusing the stream; it is as unprocessed, and its half-sent body must go whole.
for (const [name, code] of [
  ["NO_ERROR", constants.NGHTTP2_NO_ERROR],
  ["ENHANCE_YOUR_CALM", constants.NGHTTP2_ENHANCE_YOUR_CALM],
] as const)
  test(`a POST refused by GOAWAY ${name} above its stream goes again on a new session with its whole body, once`, {
    timeout: 90_000,
  }, async () => {
    goawayCode = code;
    await reset(8 * 1024);
    const first = Buffer.from(randomBytes(random, 16 * 1024 + Math.floor(random() * 16 * 1024)));
    const rest = Buffer.from(randomBytes(random, 1 + Math.floor(random() * 24 * 1024)));
    const whole = Buffer.concat([first, rest]);
    const r = await postAcrossGoaway(first, rest);
    const note = `${seedNote(SEED)}\n${sg.proc.output().slice(-2000)}`;
    assert.equal(r.status, 200, `${r.body}\n${note}`);
    assert.deepEqual(JSON.parse(r.body), { bytes: whole.length, sha: sha(whole) }, note);
    assert.equal(processed.length, 1, `the upstream processed the POST once; ${note}`);
    assert.ok(sessions.length >= 2, `the re-send went on a new session; ${note}`);
    assert.ok(refusedOn !== undefined, `the upstream refused the first try; ${note}`);
    assert.notEqual(processedOn[0], refusedOn, `the refused session did not process it; ${note}`);
  });

test("a body past the replay limit is not kept: the refused POST fails upstream_reset as before", {
  timeout: 90_000,
}, async () => {
  goawayCode = constants.NGHTTP2_NO_ERROR;
  await reset(70 * 1024);
  const first = Buffer.from(randomBytes(random, 80 * 1024));
  const rest = Buffer.from(randomBytes(random, 4 * 1024));
  const r = await postAcrossGoaway(first, rest);
  const note = seedNote(SEED);
  assert.equal(r.status, 502, `${r.body}; ${note}`);
  assert.equal(JSON.parse(r.body).error, "upstream_reset", note);
  assert.ok(refusedOn !== undefined, `the upstream refused it; ${note}`);
  assert.equal(processed.length, 0, `nothing processed; ${note}`);
});
