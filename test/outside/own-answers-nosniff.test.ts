// From outside, against a real shardgate: every answer shardgate writes itself on the data port
// (a data-plane error, a 405 refused method, a raw 400 for a request Node's parser refused)
// carries `X-Content-Type-Options: nosniff`, so a browser never sniffs an error body that
// echoes client bytes (the request id) as HTML. A relayed upstream answer is left as the
// upstream wrote it: shardgate adds no such header to it.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, test } from "node:test";
import { send } from "../proxy/harness.js";
import { freePorts } from "../support/ports.js";
import { startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";

after(stopAll);

/** Sends raw bytes and collects everything until the server closes (bounded by 10 s). */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within 10 s; got ${Buffer.concat(chunks).toString("latin1")}`));
    }, 10_000);
    s.on("connect", () => s.write(bytes));
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
  });
}

test("shardgate's own data-port answers say nosniff; a relayed upstream answer is untouched", async (t) => {
  // Nothing listens on it: a port freePorts found free, left unbound.
  const [gone] = await freePorts(1);
  const ups = await startUpstreams(1, "ns");
  t.after(() => closeAll(ups));
  const sg = await startShardgate(`listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
log: { level: info, accessLog: false }
pools:
  api:
    members: [{ id: gone, address: "127.0.0.1:${gone}" }]
  live:
    members: [{ id: ${ups[0].id}, address: "127.0.0.1:${ups[0].port}" }]
routes:
  - match: { pathPrefix: /api }
    pool: api
    key: [header:x-user-id]
  - match: { pathPrefix: /live }
    pool: live
    key: [header:x-user-id]
`);
  t.after(() => sg.stop());
  const port = Number(new URL(sg.httpUrl).port);
  const id = "</script><script>alert(1)</script>";

  // The data plane's error answers: no route (404), the refusing member (502, then 503).
  for (const [path, statuses] of [
    ["/elsewhere", [404]],
    ["/api/x", [502, 503]],
  ] as const) {
    const r = await fetch(`${sg.httpUrl}${path}`, { headers: { "x-request-id": id, "x-user-id": "u1" } });
    const text = await r.text();
    const what = `${path}: ${r.status} ${text}`;
    assert.ok((statuses as readonly number[]).includes(r.status), what);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff", what);
    assert.equal((JSON.parse(text) as { requestId: string }).requestId, id, what);
  }

  // TRACE is refused at the edge (405 with Allow).
  const trace = await send(port, { method: "TRACE", path: "/live/x", headers: { "x-user-id": "u1" } });
  assert.equal(trace.status, 405, trace.text);
  assert.equal(trace.headers["x-content-type-options"], "nosniff", "405 method_not_allowed");

  // A head Node's parser refuses (a header line without a colon): the raw 400 written to the socket.
  const raw = await rawExchange(port, "GET /live/x HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n");
  assert.match(raw, /^HTTP\/1\.1 400 /, raw);
  assert.match(raw, /\r\nX-Content-Type-Options: nosniff\r\n/i, raw);

  // The upstream's own answer is relayed as it is: no header added.
  const ok = await fetch(`${sg.httpUrl}/live/x`, { headers: { "x-user-id": "u1" } });
  await ok.text();
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("x-content-type-options"), null, "relayed answer left alone");
});
