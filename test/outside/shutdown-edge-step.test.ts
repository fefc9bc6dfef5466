// SIGTERM with requests still in their route's edge step, waiting on a Redis that has stopped
// answering (its connection up, no reply to the script calls), tried from the outside: a real
// shardgate process, a fake Redis, routes with a rate limit, a shared cache and a Redis
// affinity, a long redis.commandTimeout and a short --drain-timeout; HTTP/1.1 and one HTTP/2 stream.
// Found: at the drain deadline those requests were in no member pool and not in the timeout
// sweep, so nothing answered them: their connections were closed under them (the client saw a
// reset) and they were logged 499, while every other request the shutdown cut is answered 503
// shutting_down (shutdown-cut-requests.test.ts). Now they get that answer too.

import assert from "node:assert/strict";
import { createServer, request as httpRequest } from "node:http";
import { connect as h2connect } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { HostileRedis } from "../support/hostile-redis.js";
import { startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const DRAIN_MS = 600;
const FEATURES = ["rate", "cache", "affinity"] as const;

const member = createServer((req, res) => {
  req.resume();
  res.end("member answer");
});

after(async () => {
  await stopAll();
  member.closeAllConnections();
  await new Promise((r) => member.close(r));
});

interface Outcome {
  status: number;
  body: string;
  error: string;
}

function get(url: string, path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}${path}`, { headers: { "x-user-id": "k" }, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, error: "" }));
      res.on("error", (err) => resolve({ status: res.statusCode ?? 0, body, error: err.message }));
    });
    req.on("error", (err) => resolve({ status: 0, body: "", error: err.message }));
    req.end();
  });
}

/** The same GET as an HTTP/2 stream (prior knowledge, cleartext). */
function getH2(url: string, path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const session = h2connect(url);
    session.on("error", (err) => resolve({ status: 0, body: "", error: err.message }));
    const stream = session.request({ ":path": path, "x-user-id": "k" });
    let status = 0;
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("data", (d: string) => (body += d));
    stream.on("end", () => {
      session.close();
      resolve({ status, body, error: "" });
    });
    stream.on("error", (err) => {
      session.destroy();
      resolve({ status, body, error: err.message });
    });
    stream.end();
  });
}

test("SIGTERM at the drain deadline answers a request waiting on Redis in its edge step 503 shutting_down", {
  timeout: 120_000,
}, async (t) => {
  await new Promise<void>((r) => member.listen(0, "127.0.0.1", () => r()));
  const port = (member.address() as AddressInfo).port;
  const redis = await new HostileRedis("none", 0).start();
  t.after(() => redis.close());
  const sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: true }
redis: { url: "${redis.url}", commandTimeout: 60s }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:${port}" }]
routes:
  - match: { pathPrefix: /rate }
    pool: users
    key: [header:x-user-id]
    rateLimit: { limit: 100, window: 1s, store: redis, onStoreError: closed }
  - match: { pathPrefix: /cache }
    pool: users
    key: [header:x-user-id]
    cache: { store: redis, maxBytes: 1mb }
  - match: { pathPrefix: /affinity }
    pool: users
    key: [header:x-user-id]
    affinity: { store: redis, ttl: 30m, mode: sticky }
`,
    { args: ["--drain-timeout", `${DRAIN_MS}ms`] },
  );
  await sg.proc.waitForLine("redis connected", (l) => l.msg === "redis connected", scaled(10_000));
  const outcomes = FEATURES.map((f) => get(sg.httpUrl, `/${f}`));
  const overH2 = getH2(sg.httpUrl, "/rate/h2");
  await eventually("every request waits on Redis", () =>
    redis.replies > FEATURES.length ? true : undefined,
  );

  sg.proc.signal("SIGTERM");
  const exit = await sg.proc.waitExit(scaled(20_000));
  assert.deepEqual(exit, { code: 0, signal: null }, sg.proc.output());

  for (const [i, feature] of FEATURES.entries()) {
    const o = await outcomes[i];
    const what = `${feature}: ${JSON.stringify(o)}\n${sg.proc.output()}`;
    assert.equal(o.status, 503, what);
    assert.equal(o.error, "", what);
    assert.equal(JSON.parse(o.body).error, "shutting_down", what);
    const line = sg.proc.lines.find((l) => l.type === "access" && l.path === `/${feature}`);
    assert.ok(line !== undefined, `the cut request's access line is written: ${what}`);
    assert.equal(line.status, 503, what);
    assert.equal(line.error, "shutting_down", what);
  }
  const h2 = await overH2;
  const what = `HTTP/2: ${JSON.stringify(h2)}\n${sg.proc.output()}`;
  assert.equal(h2.status, 503, what);
  assert.equal(h2.error, "", what);
  assert.equal(JSON.parse(h2.body).error, "shutting_down", what);
});
