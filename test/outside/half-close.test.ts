// Tried from the outside: a client that half-closes (TCP FIN) once its request is sent.
// HTTP/2 (h2c) with a FIN after the request frames gets its answer. HTTP/1.1 did not: the FIN
// was taken for the client leaving (Node's default), so `nc -N`, HTTP/1.0-style clients and
// load balancers' health checks got no answer (499 in the access log). Now, as HAProxy by
// default (abortonclose off): every complete request before the FIN, pipelined ones included,
// is answered, then the connection is closed. A FIN inside an unfinished request body is still
// the client leaving: 499, the upstream request cut, and nothing written (a raw 400 went out
// too). The answer that closes a half-closed connection says `connection: close` (it said
// keep-alive). README "Security limits". Real shardgate process, raw sockets, loopback.

import assert from "node:assert/strict";
import { connect as h2Connect } from "node:http2";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { rawSession } from "../support/raw-socket.js";
import {
  eventually,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

let upstreams: EchoUpstream[] = [];
let sg: RunningShardgate;
let port = 0;

before(async () => {
  upstreams = await startUpstreams(1);
  sg = await startShardgate(
    poolConfig({ members: [{ id: "m1", port: upstreams[0].port }], accessLog: true }),
  );
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  await closeAll(upstreams);
});

test("h2c: FIN right after the request frames: the stream is answered", async () => {
  const sock = connect(port, "127.0.0.1");
  const session = h2Connect(`http://127.0.0.1:${port}`, { createConnection: () => sock });
  session.on("error", () => {});
  try {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const stream = session.request({ ":path": "/h2half", "x-user-id": "h" });
      let status = 0;
      let body = "";
      stream.on("response", (h) => {
        status = Number(h[":status"]);
      });
      stream.on("data", (d: Buffer) => {
        body += d.toString();
      });
      stream.on("error", reject);
      stream.on("end", () => resolve({ status, body }));
      stream.end();
      // The FIN once the request frames are on the wire.
      session.once("remoteSettings", () => setImmediate(() => sock.end()));
    });
    assert.equal(answer.status, 200);
    assert.match(answer.body, /"path":"\/h2half"/);
  } finally {
    session.destroy();
  }
});

/** Bounds a wait that ends as soon as shardgate closes; only a failure waits this long. */
const DEADLINE_MS = 20_000;
const HEAD = "Host: a.example\r\nx-user-id: h\r\n";

test("HTTP/1.1: FIN right after a complete request: answered, then the connection is closed", async () => {
  const { reply, closedByPeer } = await rawSession(port, DEADLINE_MS, (s) => {
    s.end(`GET /half1 HTTP/1.1\r\n${HEAD}\r\n`);
  });
  assert.ok(closedByPeer, "shardgate closes after answering a half-closed connection");
  assert.match(reply, /^HTTP\/1\.1 200 /, `answered: ${JSON.stringify(reply.slice(0, 200))}`);
  assert.match(reply, /"path":"\/half1"/);
  // The last answer before the close says so (it said keep-alive).
  assert.deepEqual(connectionHeaders(reply), ["close"], JSON.stringify(reply.slice(0, 400)));
});

test("HTTP/1.1: FIN after two pipelined requests: both answered in order, then closed", async () => {
  const { reply, closedByPeer } = await rawSession(port, DEADLINE_MS, (s) => {
    s.end(`GET /pipe1 HTTP/1.1\r\n${HEAD}\r\nGET /pipe2 HTTP/1.1\r\n${HEAD}\r\n`);
  });
  assert.ok(closedByPeer);
  const statuses = reply.match(/HTTP\/1\.1 \d{3}/g) ?? [];
  assert.deepEqual(statuses, ["HTTP/1.1 200", "HTTP/1.1 200"], JSON.stringify(reply.slice(0, 400)));
  const first = reply.indexOf('"path":"/pipe1"');
  const second = reply.indexOf('"path":"/pipe2"');
  assert.ok(first > 0 && second > first, "both answers, in request order");
  // The first answer keeps the connection (a close there would cut the second); the last closes it.
  assert.deepEqual(connectionHeaders(reply), ["keep-alive", "close"], JSON.stringify(reply.slice(0, 800)));
});

test("HTTP/1.0 without Host, FIN after the request: answered, then closed", async () => {
  const { reply, closedByPeer } = await rawSession(port, DEADLINE_MS, (s) => {
    s.end("GET /half10 HTTP/1.0\r\nx-user-id: h\r\n\r\n");
  });
  assert.ok(closedByPeer);
  assert.match(reply, /^HTTP\/1\.1 200 /, JSON.stringify(reply.slice(0, 200)));
  assert.match(reply, /"path":"\/half10"/);
});

test("HTTP/1.1: FIN inside an unfinished body is the client leaving: 499, nothing written", async () => {
  // A FIN that cuts a request short must not turn into a forwarded, answered request; and a
  // client that left is written nothing (a raw 400 went out beside the 499).
  for (const [path, framing, body] of [
    ["/cutbody", "Content-Length: 10\r\n", "abc"],
    ["/cutchunk", "Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n"],
  ]) {
    const { reply, closedByPeer } = await rawSession(port, DEADLINE_MS, (s) => {
      s.end(`POST ${path} HTTP/1.1\r\n${HEAD}${framing}\r\n${body}`);
    });
    assert.ok(closedByPeer, path);
    assert.equal(reply, "", `${path}: nothing is written to a client that left`);
    const line = await eventually(`the access line of ${path}`, () =>
      sg.proc.lines.find((l) => l.type === "access" && l.path === path),
    );
    assert.equal(line.status, 499, path);
  }
});

test("HTTP/1.1: FIN cutting a head pipelined behind a complete request: the complete one answered, then closed", async () => {
  // The cut head can never be answered; the request before it is owed its answer, as after
  // any half-close. Destroying the connection on the parser's error cut it too (nothing came).
  const { reply, closedByPeer } = await rawSession(port, DEADLINE_MS, (s) => {
    s.end(`GET /beforecut HTTP/1.1\r\n${HEAD}\r\nGET /cuthead HTT`);
  });
  assert.ok(closedByPeer);
  const statuses = reply.match(/HTTP\/1\.1 \d{3}/g) ?? [];
  assert.deepEqual(statuses, ["HTTP/1.1 200"], JSON.stringify(reply.slice(0, 400)));
  assert.match(reply, /"path":"\/beforecut"/);
  assert.deepEqual(connectionHeaders(reply), ["close"], JSON.stringify(reply.slice(0, 400)));
});

/** The Connection header of each response in `reply`, in order. */
function connectionHeaders(reply: string): string[] {
  return [...reply.matchAll(/\r\nconnection: *([^\r]*)\r\n/gi)].map((m) => m[1].toLowerCase());
}
