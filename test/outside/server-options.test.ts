// `OPTIONS *` (asterisk-form, RFC 9110 section 9.3.7: the server as a whole), tried from the
// outside against a real shardgate process over HTTP/1.1 (raw sockets: no client library sends
// the form) and HTTP/2 (h2c with prior knowledge, `:path` "*"). It was 400 bad_request on both.
// Now shardgate answers it itself: 200, `Allow` with the methods the data port forwards, no body,
// no member asked; in order among pipelined requests, kept alive, with an access line. Other
// methods with target "*" stay refused (400 on HTTP/1.1; nghttp2 resets the h2 stream).

import assert from "node:assert/strict";
import { connect as h2connect } from "node:http2";
import { after, before, test } from "node:test";
import { rawSession } from "../support/raw-socket.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

let upstreams: EchoUpstream[] = [];
let sg: RunningShardgate;
let port = 0;

const ALLOW = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

before(async () => {
  upstreams = await startUpstreams(2);
  sg = await startShardgate(poolConfig({ members: upstreams.map((u) => ({ id: u.id, port: u.port })) }));
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  await closeAll(upstreams);
});

const traffic = (): number => upstreams.reduce((n, u) => n + u.trafficRequests, 0);

/** Every response head in `reply` (status line and fields, lower-cased names), in order. */
function heads(reply: string): Array<{ status: number; fields: Map<string, string>; text: string }> {
  const out: Array<{ status: number; fields: Map<string, string>; text: string }> = [];
  for (const m of reply.matchAll(/HTTP\/1\.[01] (\d{3})[^\r]*\r\n((?:[^\r]+\r\n)*)\r\n/g)) {
    const fields = new Map<string, string>();
    for (const line of m[2].split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) fields.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    out.push({ status: Number(m[1]), fields, text: m[0] });
  }
  return out;
}

test("HTTP/1.1 OPTIONS *: 200 with Allow, no body, no member asked, then the pipelined request is served on the same connection", async () => {
  const before = traffic();
  const r = await rawSession(port, 15_000, (s) =>
    s.write(
      "OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n" +
        "GET /after HTTP/1.1\r\nHost: a.example\r\nx-user-id: k\r\nConnection: close\r\n\r\n",
      "latin1",
    ),
  );
  const hs = heads(r.reply);
  assert.equal(hs.length, 2, `two answers: ${JSON.stringify(r.reply.slice(0, 400))}`);
  assert.equal(hs[0].status, 200, hs[0].text);
  assert.equal(hs[0].fields.get("allow"), ALLOW);
  assert.equal(hs[0].fields.get("content-length"), "0");
  assert.notEqual(hs[0].fields.get("connection"), "close", "kept alive");
  const id = hs[0].fields.get("x-request-id");
  assert.ok(id !== undefined && id !== "", "carries a request id");
  assert.equal(hs[1].status, 200, "the request behind it was served, after it");
  assert.equal(traffic() - before, 1, "only the GET reached a member");
  const line = await sg.proc.waitForLine("the OPTIONS * access line", (l) => l.requestId === id, 15_000);
  assert.equal(line.status, 200);
});

test("HTTP/1.0 OPTIONS * without Host is answered too; GET * and OPTIONS * without Host on 1.1 stay 400", async () => {
  const one = heads(
    (await rawSession(port, 15_000, (s) => s.write("OPTIONS * HTTP/1.0\r\n\r\n", "latin1"))).reply,
  );
  assert.equal(one[0]?.status, 200);
  assert.equal(one[0].fields.get("allow"), ALLOW);
  for (const [bytes, code] of [
    ["GET * HTTP/1.1\r\nHost: a.example\r\n\r\n", "bad_request"],
    ["OPTIONS * HTTP/1.1\r\n\r\n", "invalid_host"],
  ]) {
    const r = await rawSession(port, 15_000, (s) => s.write(bytes, "latin1"));
    assert.match(r.reply, /^HTTP\/1\.1 400 /, bytes);
    assert.match(r.reply, new RegExp(`"error":"${code}"`), bytes);
  }
});

test("HTTP/2 OPTIONS with :path * gets 200 with Allow; the session goes on", async () => {
  const before = traffic();
  const session = h2connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  try {
    const ask = (headers: Record<string, string>) =>
      new Promise<{ status: number; allow: unknown; body: string }>((resolve, reject) => {
        const s = session.request(headers, { endStream: true });
        let status = 0;
        let allow: unknown;
        let body = "";
        s.on("response", (h) => {
          status = Number(h[":status"]);
          allow = h.allow;
        });
        s.setEncoding("utf8");
        s.on("data", (d: string) => {
          body += d;
        });
        s.on("end", () => resolve({ status, allow, body }));
        s.on("error", reject);
      });
    const opts = await ask({ ":method": "OPTIONS", ":path": "*" });
    assert.equal(opts.status, 200);
    assert.equal(opts.allow, ALLOW);
    assert.equal(opts.body, "");
    const get = await ask({ ":method": "GET", ":path": "/x", "x-user-id": "k" });
    assert.equal(get.status, 200, "the same session serves the next stream");
  } finally {
    session.close();
  }
  assert.equal(traffic() - before, 1, "only the GET reached a member");
});
