// Tried from the outside: clients that leave mid-body (FIN in the default abort mode, or a
// reset) after the member answered 200. The access line says 200 downstream_disconnected
// (client-gone-midresponse.test.ts), but the member's live figures (GET /admin/live, the
// dashboard's error ratio) counted each one as the member's failure, and as a latency sample
// cut short. The member did nothing wrong: as Envoy's outlier detection, a downstream
// disconnect is neither a failure nor a latency sample of the member, and never a breaker
// input. Many such clients on a pool with a twitchy breaker: the breaker stays closed, the
// member keeps serving, and its error ratio over the window stays 0. Real shardgate process,
// real upstream, raw sockets, loopback.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { liveOf, liveWindow } from "../support/live-figures.js";
import { rawSession } from "../support/raw-socket.js";
import {
  eventually,
  metricValue,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";

/** Clients that leave mid-body (bounded). */
const LEAVING = 12;
/** Whole requests after them, so the window has requests to divide by. */
const WHOLE = 4;
/** Bounds a wait that ends as soon as shardgate acts; only a failure waits this long. */
const DEADLINE_MS = 20_000;
const FIRST_PART = "first-part-of-the-body\n";

let upstream: Server;
let sg: RunningShardgate;
let port = 0;

before(async () => {
  // /stream/ answers 200 and the first part of a body it never ends; the rest answer whole.
  upstream = createServer((req, res) => {
    if ((req.url ?? "").startsWith("/stream/")) {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write(FIRST_PART);
      return;
    }
    res.end("whole");
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  // A breaker that opens on 3 failures in a row, or half of 5 requests.
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
pools:
  users:
    members: [{ id: s1, address: "127.0.0.1:${upstreamPort}" }]
    timeouts: { response: 120s }
    breaker: { consecutiveFailures: 3, failureRate: 0.5, minRequests: 5, openFor: 60s }
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`);
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

async function whole(path: string): Promise<void> {
  const res = await fetch(`${sg.httpUrl}${path}`, { headers: { "x-user-id": "k" } });
  const text = await res.text();
  assert.equal(res.status, 200, `${path}: ${res.status} ${text}`);
  assert.equal(text, "whole");
}

test("clients leaving mid-body: not the member's failures (error ratio 0, breaker closed, member still serving)", async () => {
  // One whole request, then a first read: the live window starts here.
  await whole("/first");
  await liveOf(sg.adminUrl);
  await Promise.all(
    Array.from({ length: LEAVING }, (_, i) =>
      rawSession(port, DEADLINE_MS, (s) => {
        s.write(`GET /stream/${i} HTTP/1.1\r\nHost: a.example\r\nx-user-id: k\r\n\r\n`);
        let seen = "";
        s.on("data", (d: Buffer) => {
          seen += d.toString("latin1");
          if (!seen.includes(FIRST_PART)) return;
          if (i % 2 === 0) s.end();
          else s.destroy();
        });
      }).then(({ reply }) => assert.match(reply, /^HTTP\/1\.1 200 /, JSON.stringify(reply.slice(0, 200)))),
    ),
  );
  const metrics = await eventually(
    `${LEAVING} downstream_disconnected counted`,
    async () => {
      const t = await (await fetch(`${sg.adminUrl}/metrics`)).text();
      const n = metricValue(t, "shardgate_downstream_client_errors_total", {
        code: "downstream_disconnected",
      });
      return n === LEAVING ? t : undefined;
    },
    DEADLINE_MS,
  );
  for (let i = 0; i < WHOLE; i++) await whole(`/after-${i}`);
  const live = await liveWindow(sg.adminUrl);
  assert.equal(live.errorRate, 0, `the member's error ratio: ${JSON.stringify(live)}`);
  assert.equal(metricValue(metrics, "shardgate_breaker_state", { pool: "users", member: "s1" }) ?? 0, 0);
  const now = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  assert.equal(
    metricValue(now, "shardgate_breaker_state", { pool: "users", member: "s1" }) ?? 0,
    0,
    "breaker closed",
  );
});
