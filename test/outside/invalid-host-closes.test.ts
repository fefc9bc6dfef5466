// Tried from the outside: a request refused 400 invalid_host (a Host with userinfo, two Hosts,
// none on HTTP/1.1) kept its connection alive, so the bytes after it were read as the next
// request: a front proxy that framed them differently could smuggle that request through.
// nginx and HAProxy close after such a 400; so does shardgate now (Connection: close, then
// the close), for every request-line/header refusal (bad_request, invalid_host, 505).

import assert from "node:assert/strict";
import { test } from "node:test";
import { oneMemberGate } from "../support/one-member-gate.js";
import { rawSession } from "../support/raw-socket.js";

// Keep-alive longer than the test's deadline: only shardgate's close after the 400 ends it in time.
const gate = oneMemberGate((yaml) =>
  yaml.replace("listen:\n", "listen:\n  timeouts: { keepAlive: 120s, idle: 120s }\n"),
);

/** Writes `payload` (never ends the socket) and resolves with the reply and whether shardgate closed it. */
function exchange(
  port: number,
  payload: string,
  ms: number,
): Promise<{ reply: string; closedByPeer: boolean }> {
  return rawSession(port, ms, (s) => s.write(payload));
}

const NEXT = "GET /smuggled HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\n\r\n";

const CASES: Record<string, string> = {
  "Host with userinfo": "GET / HTTP/1.1\r\nHost: a:80@evil\r\nx-user-id: k\r\n\r\n",
  "two Hosts": "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nx-user-id: k\r\n\r\n",
  "no Host on HTTP/1.1": "GET / HTTP/1.1\r\nx-user-id: k\r\n\r\n",
};

test("400 invalid_host closes the connection; the request pipelined behind it is never served", {
  timeout: 60_000,
}, async () => {
  const port = Number(new URL(gate.sg.httpUrl).port);
  const start = gate.upstream.requests;
  for (const [name, bad] of Object.entries(CASES)) {
    const before = gate.upstream.requests;
    const r = await exchange(port, bad + NEXT, 15_000);
    assert.match(r.reply, /^HTTP\/1\.1 400 /, name);
    assert.match(r.reply, /"error":"invalid_host"/, name);
    assert.match(r.reply, /\r\nconnection: close\r\n/i, `${name}: says Connection: close`);
    assert.equal(r.reply.match(/HTTP\/1\.1 \d{3} /g)?.length, 1, `${name}: one answer only\n${r.reply}`);
    assert.equal(gate.upstream.requests, before, `${name}: the pipelined request reached no upstream`);
    assert.ok(r.closedByPeer, `${name}: shardgate closed the connection\n${r.reply}`);
  }
  // A valid request on a fresh connection is still served (and keeps its connection).
  const ok = await fetch(`${gate.sg.httpUrl}/`, { headers: { "x-user-id": "k" } });
  assert.equal(ok.status, 200);
  await ok.arrayBuffer();
  // Sent after every refused connection closed: any smuggled request forwarded would be here by now.
  assert.equal(gate.upstream.requests - start, 1, "only the valid request reached the upstream");
});
