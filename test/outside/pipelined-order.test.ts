// Tried from the outside: HTTP/1.1 requests pipelined on one connection, through a real
// shardgate process, to an upstream that records the order it sees requests and answers
// (test/support/recording-upstream.ts). Node parses every pipelined request at once and
// shardgate forwarded them all at once, so a `GET` pipelined behind a `POST` reached the
// upstream while the POST was still being answered (RFC 9112 section 9.3.2: only safe requests
// may be worked on in parallel). Now an unsafe request waits for the answers before it and
// everything waits for an unsafe one; safe requests behind safe ones still run in parallel
// (proxy/server/pipeline-order.ts). A request under /held/ has its answer held by the upstream
// until another request reaches it, or HOLD_MS passes: on the old code the next pipelined
// request arrives within milliseconds and releases it, so the upstream's order shows it;
// HOLD_MS only bounds how long the fixed code's held answer waits; the listener's request
// timeout (1 s) is shorter, and a request waiting its turn must outlive it. Loopback only.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MAX_HELD } from "../../proxy/server/pipeline-order.js";
import { rawSession } from "../support/raw-socket.js";
import { type RecordingUpstream, startRecordingUpstream } from "../support/recording-upstream.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

/** Bounds one exchange; only a failure waits this long. */
const DEADLINE_MS = 20_000;
/** How long the upstream holds an answer under /held/ when no other request comes. */
const HOLD_MS = 1_500;

let upstream: RecordingUpstream;
let sg: RunningShardgate;
let port = 0;
/** The same pool behind listen.clientHalfClose: answer (a FIN after the requests is answered). */
let answering: RunningShardgate;
/** Held answers waiting for the next request the upstream sees. */
let waiting: Array<() => void> = [];

before(async () => {
  upstream = await startRecordingUpstream({
    holdAnswer: (r) => {
      const release = waiting;
      waiting = [];
      for (const go of release) go();
      if (!r.target.startsWith("/held/")) return undefined;
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, scaled(HOLD_MS));
        waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  });
  // A request timeout shorter than HOLD_MS: a request waiting its turn must not be timed out.
  const yaml = poolConfig({ members: [{ id: "r1", port: upstream.port }], accessLog: false });
  sg = await startShardgate(yaml.replace("listen:\n", "listen:\n  timeouts: { headers: 1s, request: 1s }\n"));
  port = Number(new URL(sg.httpUrl).port);
  answering = await startShardgate(yaml.replace("listen:\n", "listen:\n  clientHalfClose: answer\n"));
});

after(async () => {
  await stopAll();
  await upstream?.close();
});

const HOST = "Host: a.example\r\nx-user-id: k\r\n";
const get = (path: string, last = false): string =>
  `GET ${path} HTTP/1.1\r\n${HOST}${last ? "Connection: close\r\n" : ""}\r\n`;
const post = (path: string, body: string, last = false): string =>
  `POST ${path} HTTP/1.1\r\n${HOST}Content-Length: ${body.length}\r\n${last ? "Connection: close\r\n" : ""}\r\n${body}`;

/** Sends `bytes` in one write (then a FIN with `fin`); the reply's bodies (`seen <target>`), in the order answered. */
async function pipeline(bytes: string, to = port, fin = false): Promise<string[]> {
  const { reply, closedByPeer } = await rawSession(to, DEADLINE_MS, (s) => {
    s.write(bytes);
    if (fin) s.end();
  });
  assert.ok(
    closedByPeer,
    `shardgate closed after the last answer; reply: ${JSON.stringify(reply.slice(0, 600))}`,
  );
  return [...reply.matchAll(/seen (\S+) up=\d+/g)].map((m) => m[1]);
}

/** Index of `event` in the upstream's log; fails when it is not there. */
function at(event: string): number {
  const i = upstream.events.indexOf(event);
  assert.ok(i >= 0, `${event} in ${JSON.stringify(upstream.events)}`);
  return i;
}

function before_(a: string, b: string): void {
  assert.ok(at(a) < at(b), `${a} before ${b}: ${JSON.stringify(upstream.events)}`);
}

test("a GET pipelined behind a POST reaches the upstream only after the POST's answer", async () => {
  const answered = await pipeline(post("/held/p1", "a=1") + get("/g1", true));
  assert.deepEqual(answered, ["/held/p1", "/g1"]);
  before_("answered POST /held/p1", "seen GET /g1");
});

test("a POST pipelined behind a GET in flight waits for the GET's answer", async () => {
  const answered = await pipeline(get("/held/g2") + post("/p2", "b=2", true));
  assert.deepEqual(answered, ["/held/g2", "/p2"]);
  before_("answered GET /held/g2", "seen POST /p2");
});

test("GET, GET, POST, GET: the two GETs run together, the POST after both, the last GET after the POST", async () => {
  const answered = await pipeline(get("/held/g3") + get("/g4") + post("/p5", "c=3") + get("/g6", true));
  assert.deepEqual(answered, ["/held/g3", "/g4", "/p5", "/g6"]);
  // The second GET was forwarded while the first was still unanswered (it released it).
  before_("seen GET /g4", "answered GET /held/g3");
  before_("answered GET /held/g3", "seen POST /p5");
  before_("answered GET /g4", "seen POST /p5");
  before_("answered POST /p5", "seen GET /g6");
});

test("more requests behind a POST than a connection may hold waiting: all answered in order, none upstream before the POST's answer", async () => {
  // Over 96 KiB of heads: more than one read, so bytes are still unread when the listener
  // pauses the socket, and the last requests arrive only once it reads again.
  const n = MAX_HELD * 3;
  const pad = `x-pad: ${"p".repeat(1024)}\r\n`;
  const gets = Array.from({ length: n }, (_, i) =>
    get(`/many-${i}`, i === n - 1).replace(HOST, HOST + pad),
  ).join("");
  const answered = await pipeline(post("/held/p7", "d=4") + gets);
  assert.deepEqual(answered, ["/held/p7", ...Array.from({ length: n }, (_, i) => `/many-${i}`)]);
  for (let i = 0; i < n; i++) before_("answered POST /held/p7", `seen GET /many-${i}`);
});

test("a POST with a 64 KiB body waiting behind a POST longer than the request timeout: not timed out, its body whole", async () => {
  const body = "e".repeat(64 * 1024);
  const answered = await pipeline(post("/held/p8", "e=5") + post("/p9", body, true));
  assert.deepEqual(answered, ["/held/p8", "/p9"]);
  before_("answered POST /held/p8", "seen POST /p9");
  const seen = upstream.requests.find((r) => r.target === "/p9");
  assert.equal(seen?.body.length, body.length);
});

test("clientHalfClose answer: POST then GET, then a FIN: both answered in order, the GET upstream after the POST's answer", async () => {
  const to = Number(new URL(answering.httpUrl).port);
  const answered = await pipeline(post("/held/p10", "f=6") + get("/g11"), to, true);
  assert.deepEqual(answered, ["/held/p10", "/g11"]);
  before_("answered POST /held/p10", "seen GET /g11");
});
