// Tried from the outside: an HTTP/2 `:path` with a byte past ASCII (0x80-0xff: a raw UTF-8 `é`,
// the C1 CSI 0x9b). HTTP/1.1's parser refuses such a byte in the request-target (400
// bad_request, the connection closed); nghttp2 lets it through, Node reads it as latin1, and
// shardgate forwarded it to the member, which saw a target the HTTP/1.1 listener never lets by
// (and wrote it in the access log as a raw C1 control). Now 400 bad_request on the stream,
// counted, never forwarded, and the session goes on, as for the other targets the two
// listeners refuse alike (request-target.ts). Real shardgate process, real upstream, h2c.

import assert from "node:assert/strict";
import { test } from "node:test";
import { h2Request, h2Session } from "../support/h2-client.js";
import { oneMemberGate } from "../support/one-member-gate.js";
import { rawExchange } from "../support/raw-socket.js";
import { metricValue } from "../support/shardgate-process.js";

const gate = oneMemberGate();

async function badRequests(): Promise<number> {
  const text = await (await fetch(`${gate.sg.adminUrl}/metrics`)).text();
  return metricValue(text, "shardgate_downstream_client_errors_total", { code: "bad_request" }) ?? 0;
}

test("h2c: a :path byte past ASCII gets 400 bad_request on the stream, never forwarded", async (t) => {
  const session = await h2Session(t, gate.sg.httpUrl);
  const forwarded = gate.upstream.requests;
  const counted = await badRequests();
  // As latin1 (how Node writes and reads a header): the bytes c3 a9, 80, 9b, ff.
  const paths = ["/caf\u00c3\u00a9", "/a\u0080", "/a\u009b2J", "/\u00ff"];
  for (const path of paths) {
    const r = await h2Request(session, { path, headers: { "x-user-id": "k" } });
    assert.equal(r.status, 400, `${JSON.stringify(path)}: ${r.text.slice(0, 200)}`);
    assert.equal(r.json().error, "bad_request", r.text);
  }
  assert.equal(gate.upstream.requests, forwarded, "none forwarded");
  assert.equal(await badRequests(), counted + paths.length);
  // The same session goes on; the percent-encoded spelling is a plain target.
  const r = await h2Request(session, { path: "/caf%C3%A9", headers: { "x-user-id": "k" } });
  assert.equal(r.status, 200, r.text.slice(0, 200));
  assert.equal(gate.upstream.requests, forwarded + 1);
});

/** The status HTTP/1.1 answers `target` with (0: no status line), one request per connection. */
async function h1Status(target: string, method = "GET"): Promise<number> {
  const head = `${method} ${target} HTTP/1.1\r\nHost: x\r\nx-user-id: k\r\nConnection: close\r\n\r\n`;
  const reply = await rawExchange(gate.port, Buffer.from(head, "latin1"), 5000);
  return Number(/^HTTP\/1\.1 (\d{3}) /.exec(reply)?.[1] ?? 0);
}

test("h2c takes every visible ASCII character HTTP/1.1 takes in a path and a query, and refuses the rest alike", async (t) => {
  // The rule is HTTP/1.1's parser's exact set, 0x21-0x7e: `"`, `{`, `}`, `|`, `\`, `^` and a
  // backtick are no RFC 3986 characters but it takes them (many clients send them unencoded),
  // so h2 must too; `#` both refuse (fragment_in_target), and 0x80-0xff. (DEL never gets this
  // far over h2: nghttp2 resets the stream.)
  const session = await h2Session(t, gate.sg.httpUrl);
  const differ: string[] = [];
  const bytes = [0x80, 0x9b, 0xff];
  for (let b = 0x21; b <= 0x7e; b++) bytes.push(b);
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    for (const target of [`/a${c}b`, `/p?q=a${c}b`]) {
      const h1 = await h1Status(target);
      const h2 = (await h2Request(session, { path: target, headers: { "x-user-id": "k" } })).status;
      if (h1 !== h2 || h1 === 0) differ.push(`${JSON.stringify(target)}: HTTP/1.1 ${h1}, h2 ${h2}`);
    }
  }
  assert.deepEqual(differ, [], "the same answer over both");
  // OPTIONS * and a gRPC method path are plain targets over both.
  assert.equal(await h1Status("*", "OPTIONS"), 200);
  const star = await h2Request(session, { method: "OPTIONS", path: "*", headers: { "x-user-id": "k" } });
  assert.equal(star.status, 200, star.text.slice(0, 200));
  const grpc = await h2Request(session, {
    method: "POST",
    path: "/pkg.v1.Svc/Method",
    headers: { "x-user-id": "k", "content-type": "application/grpc", te: "trailers" },
  });
  assert.equal(grpc.status, 200, grpc.text.slice(0, 200));
});
