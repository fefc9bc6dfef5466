// Hostile: slow uploads against a real shardgate process (issue 10, item 1). Clients that
// announce a body and stall get one answer each, 408 client_timeout; no upstream error is
// recorded and no breaker moves; a slow but legitimate upload is served although it takes
// several times the pool's response timeout.

import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, test } from "node:test";
import { startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { breakerStates, metric, metricSum, portOf, rawAll } from "./hostile-support.js";

after(stopAll);

test("stalled bodies get one 408 each and move no breaker; a slow legitimate upload is served", {
  timeout: 60_000,
}, async (t) => {
  const upstreams = await startUpstreams(2);
  t.after(() => closeAll(upstreams));
  const sg = await startShardgate(`listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
  timeouts: { headers: 500ms, request: 1500ms }
log: { level: info, accessLog: false }
pools:
  users:
    members:
${upstreams.map((u) => `      - { id: ${u.id}, address: "127.0.0.1:${u.port}" }`).join("\n")}
    timeouts: { response: 300ms }
    breaker: { consecutiveFailures: 2, openFor: 5s }
routes:
  - pool: users
    key: [header:x-user-id]
`);
  t.after(() => sg.stop());
  const port = portOf(sg.httpUrl);
  const stalled = `POST / HTTP/1.1\r\nHost: a\r\nX-User-Id: victim\r\nContent-Length: 10\r\n\r\nx`;
  const replies = await Promise.all([1, 2, 3, 4, 5].map(() => rawAll(port, stalled, 8000)));
  for (const reply of replies) {
    assert.deepEqual(reply.match(/HTTP\/1\.1 \d{3}/g), ["HTTP/1.1 408"], JSON.stringify(reply));
    assert.match(reply, /"error":"client_timeout"/);
  }
  // A legitimate 12 KB upload over ~1.2 s (4x the response timeout, within the request timeout).
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/",
      headers: { "x-user-id": "victim", "content-length": "12000" },
      agent: false,
    });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    let sent = 0;
    const tick = (): void => {
      sent += 1000;
      if (sent >= 12_000) req.end(Buffer.alloc(1000, 0x61));
      else {
        req.write(Buffer.alloc(1000, 0x61));
        setTimeout(tick, 100);
      }
    };
    tick();
  });
  assert.equal(status, 200);
  assert.equal(
    await metric(sg.adminUrl, "shardgate_downstream_client_errors_total", { code: "client_timeout" }),
    5,
  );
  assert.equal(
    await metricSum(sg.adminUrl, "shardgate_upstream_errors_total"),
    0,
    "nothing counted against a member",
  );
  assert.equal(await metricSum(sg.adminUrl, "shardgate_upstream_connect_errors_total"), 0);
  assert.deepEqual(Object.values(await breakerStates(sg.adminUrl)), ["closed", "closed"]);
});
