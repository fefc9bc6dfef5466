// A legitimate HTTP/2 client whose calls outlive their deadlines: a gRPC channel (or a browser
// on a slow page) cancels each stream with RST_STREAM CANCEL after waiting seconds for an answer
// that has not begun. The rapid-reset guard counted every client reset before a response header
// as "premature", however long the stream had lived, so once a connection had closed 100 streams
// this way it got GOAWAY ENHANCE_YOUR_CALM and was closed, taking every other call in flight on
// it (a slow member turned into dropped connections). Envoy's rule, whose thresholds the README
// cites, counts a reset as premature only within premature_reset_min_stream_lifetime (1 s).
// Real shardgate process, a real upstream that holds /slow requests, a node:http2 client that
// cancels each stream 1.5 s after the member has it (so it lived well over 1 s), 120 streams in
// two rounds; then a /fast request on the same connection must be answered and no GOAWAY seen.
// Rapid reset itself stays cut (h2-abuse-rapid-reset, h2-floods).

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type ClientHttp2Session, connect, constants } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { RESET_MIN_STREAMS } from "../../proxy/server/h2-reset-guard.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const ROUND = 60;
const ROUNDS = Math.ceil((RESET_MIN_STREAMS + 20) / ROUND);
/** The client's deadline, counted from when the member has the request. */
const DEADLINE_MS = 1_500;

let upstream: Server;
let held = 0;
const holding = new Set<ServerResponse>();
let sg: RunningShardgate;
let client: ClientHttp2Session | undefined;

before(async () => {
  upstream = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    if (req.url?.startsWith("/slow") === true) {
      // Never answered: the client gives up first (its stream is reset, shardgate drops this).
      held++;
      holding.add(res);
      res.on("close", () => holding.delete(res));
      return;
    }
    res.writeHead(200, { "content-type": "text/plain", "content-length": 2 });
    res.end("ok");
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as AddressInfo).port;
  sg = await startShardgate(poolConfig({ members: [{ id: "m1", port }], accessLog: false }));
});
after(async () => {
  client?.destroy();
  await stopAll();
  for (const res of holding) res.destroy();
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

test("a client cancelling streams that waited past its deadline keeps its connection", {
  timeout: 180_000,
}, async () => {
  const session = connect(sg.httpUrl);
  client = session;
  const goaways: number[] = [];
  session.on("goaway", (code: number) => goaways.push(code));
  session.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  for (let round = 0; round < ROUNDS; round++) {
    const before = held;
    const closed: Promise<void>[] = [];
    const streams = [];
    for (let i = 0; i < ROUND; i++) {
      const s = session.request({ ":path": `/slow/${round}/${i}`, "x-user-id": `u${i}` });
      s.on("error", () => {});
      s.resume();
      closed.push(new Promise((r) => s.once("close", () => r())));
      streams.push(s);
    }
    await eventually(
      `round ${round}: the member holds its ${ROUND} requests`,
      () => (held - before >= ROUND ? true : undefined),
      60_000,
      50,
    );
    // The client's deadline: it waited this long for an answer that did not begin.
    await new Promise((r) => setTimeout(r, DEADLINE_MS));
    for (const s of streams) s.close(constants.NGHTTP2_CANCEL);
    await Promise.all(closed);
    assert.deepEqual(goaways, [], `round ${round}: GOAWAY received (11 = ENHANCE_YOUR_CALM)`);
  }
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const s = session.request({ ":path": "/fast", "x-user-id": "u0" });
    let status = 0;
    let body = "";
    s.on("response", (h) => {
      status = Number(h[":status"]);
    });
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      body += d;
    });
    s.on("end", () => resolve({ status, body }));
    s.on("error", reject);
  });
  assert.deepEqual(answer, { status: 200, body: "ok" });
  assert.deepEqual(goaways, [], "no GOAWAY on the connection");
  assert.equal(session.closed || session.destroyed, false, "the connection is still open");
});
