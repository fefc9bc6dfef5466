// The request bodies kept for an HTTP/2 re-send (proxy/forward/body-replay.ts), tried from the
// outside: a real shardgate process, an h2c pool of one member, a node:http2 upstream that
// reads every body to its end and holds the answer. Each body is kept (up to 64 KiB, by
// reference) until its attempt is answered, so many held uploads pinned 64 KiB each without
// end: nothing bounded them together. Now all kept bodies share a process-wide budget of
// 64 MiB; past it a body is not kept (it is just not replayable, as one over 64 KiB) and is
// still forwarded. Seen through shardgate_h2_replay_body_bytes (kept now, never above the
// budget) and shardgate_h2_replay_bodies_over_budget_total; every upload is answered 200 and
// the kept bytes go back to 0 once they are.

import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { createServer, type Http2Server, type Http2Session, type ServerHttp2Stream } from "node:http2";
import { after, before, test } from "node:test";
import { randomBytes, seededRandom, seedNote, testSeed } from "../support/prng.js";
import {
  eventually,
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";

const SEED = testSeed(64_64);
const random = seededRandom(SEED);

const BUDGET = 64 * 1024 * 1024;
/** Each body fits the per-request limit (64 KiB); together they pass the budget by ~4 MiB. */
const BODY_BYTES = 60 * 1024;
const UPLOADS = Math.ceil(BUDGET / BODY_BYTES) + 70;

let upstream: Http2Server;
let sg: RunningShardgate;
const sessions: Http2Session[] = [];
/** Streams whose body the upstream read to its end, answer held; with the bytes each got. */
const held: Array<{ st: ServerHttp2Stream; bytes: number }> = [];

before(async () => {
  upstream = createServer({ settings: { maxConcurrentStreams: 4 * UPLOADS } });
  upstream.on("session", (s) => {
    sessions.push(s);
    s.on("error", () => {});
  });
  upstream.on("stream", (st) => {
    st.on("error", () => {});
    let bytes = 0;
    st.on("data", (d: Buffer) => {
      bytes += d.length;
    });
    st.on("end", () => held.push({ st, bytes }));
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
  const port = (upstream.address() as { port: number }).port;
  sg = await startShardgate(
    poolConfig({
      members: [{ id: "h1", port }],
      accessLog: false,
      poolExtra: "    protocol: h2c\n    timeouts: { response: 300s }\n    breaker: { enabled: false }\n",
    }),
  );
});

after(async () => {
  await stopAll();
  for (const s of sessions) s.destroy();
  await new Promise((r) => upstream.close(r));
});

async function scrape(): Promise<string> {
  const r = await fetch(`${sg.adminUrl}/metrics`);
  return r.text();
}

function figure(text: string, name: string): number {
  const v = metricValue(text, name, {});
  assert.ok(v !== undefined, `${name} is exported`);
  return v;
}

test("held HTTP/2 uploads keep at most 64 MiB of bodies for re-sends; past it bodies still go through", {
  timeout: 600_000,
}, async () => {
  const note = seedNote(SEED);
  const url = new URL(sg.httpUrl);
  const agent = new Agent({ keepAlive: false, maxSockets: UPLOADS + 10 });
  const answers: Array<Promise<number>> = [];
  for (let i = 0; i < UPLOADS; i++) {
    const body = randomBytes(random, BODY_BYTES);
    answers.push(
      new Promise((resolve, reject) => {
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            agent,
            method: "POST",
            path: `/upload/${i}`,
            headers: { "x-user-id": `u${i}`, "content-length": body.length },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        req.end(body);
      }),
    );
  }
  try {
    await eventually(
      `the upstream read all ${UPLOADS} bodies (${note})`,
      () => (held.length >= UPLOADS ? true : undefined),
      300_000,
      200,
    );
    const text = await scrape();
    const kept = figure(text, "shardgate_h2_replay_body_bytes");
    const over = figure(text, "shardgate_h2_replay_bodies_over_budget_total");
    assert.ok(kept <= BUDGET, `kept ${kept} bytes, at most ${BUDGET} (${note})`);
    assert.ok(kept > BUDGET - 2 * BODY_BYTES, `kept ${kept} bytes: the budget was filled (${note})`);
    assert.ok(over >= UPLOADS - Math.floor(BUDGET / BODY_BYTES), `${over} bodies over budget (${note})`);
    assert.ok(
      held.every((h) => h.bytes === BODY_BYTES),
      `every body reached the upstream whole (${note})`,
    );
    for (const h of held) {
      h.st.respond({ ":status": 200 });
      h.st.end("ok");
    }
    const statuses = await Promise.all(answers);
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
      `every upload answered 200 (${note})`,
    );
    await eventually(`kept bytes back to 0 (${note})`, async () =>
      figure(await scrape(), "shardgate_h2_replay_body_bytes") === 0 ? true : undefined,
    );
  } finally {
    for (const h of held) if (!h.st.closed) h.st.close();
    agent.destroy();
  }
});
