// The shared cache keys a Vary variant by the request headers the upstream saw. This hop's
// X-Forwarded-Proto / -Host / -For and Forwarded are added after the edge features run (f8a5d8d),
// so a lookup must read them as they will be forwarded: reading the client's headers, a response
// with `Vary: X-Forwarded-Proto` was stored under "http" and looked up under "" (never a hit), and
// coalesced waiters never took their leader's answer.

import assert from "node:assert/strict";
import { Agent, createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import type { ShardgateConfigInput } from "../../config/file/schema.js";
import { send } from "../proxy/harness.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { eventually } from "../support/wait.js";
import { startEdgeHarness } from "./edge-harness.js";

let redis: RedisServer;
const hits = new Map<string, number>();
/** Requests of /slow/... wait here until the test releases them. */
let releaseSlow: () => void = () => {};
let slowGate: Promise<void> = Promise.resolve();
const upstream = createServer((req: IncomingMessage, res: ServerResponse) => {
  const path = req.url ?? "";
  const n = (hits.get(path) ?? 0) + 1;
  hits.set(path, n);
  const body = `${path} #${n} proto=${req.headers["x-forwarded-proto"] ?? ""}`;
  const answer = () => {
    res.writeHead(200, {
      "content-type": "text/plain",
      "cache-control": "public, max-age=60",
      vary: path.includes("/host/") ? "X-Forwarded-Host" : "X-Forwarded-Proto",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  };
  if (path.startsWith("/static/slow/")) void slowGate.then(answer);
  else answer();
});
let upPort = 0;

before(async () => {
  redis = await startRedis();
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upPort = (upstream.address() as AddressInfo).port;
});
after(async () => {
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
  await stopAllRedis();
});

function cached(): ShardgateConfigInput {
  return {
    pools: { users: { members: [{ id: "origin", address: `127.0.0.1:${upPort}` }] } },
    routes: [
      { match: { pathPrefix: "/static" }, pool: "users", key: ["path:2"], cache: { maxBytes: "1kb" } },
    ],
  };
}

async function start(t: { after(fn: () => Promise<void>): void }, prefix: string) {
  const h = await startEdgeHarness({
    members: 1,
    redisUrl: redis.url,
    redis: { keyPrefix: prefix },
    config: cached,
  });
  t.after(() => h.close());
  return h;
}

for (const kind of ["proto", "host"]) {
  test(`Vary: X-Forwarded-${kind === "proto" ? "Proto" : "Host"} set by this hop: the second request is a HIT`, async (t) => {
    const h = await start(t, `vf-${kind}:`);
    const p = `/static/${kind}/a`;
    const first = await send(h.port, { path: p });
    assert.equal(first.status, 200);
    assert.equal(first.headers["x-cache"], "MISS");
    if (kind === "proto") assert.match(first.text, /proto=http$/);
    // The variant and its marker are written in one MULTI: once the marker is there, both are.
    await eventually(`${p} stored`, async () => {
      const n = await h.store?.run((c) => c.exists(`c:{*/static|http://127.0.0.1:${h.port}|GET|${p}}`));
      return n === 1 ? true : undefined;
    });
    const second = await send(h.port, { path: p });
    assert.equal(second.headers["x-cache"], "HIT", `upstream saw ${hits.get(p)} requests for ${p}`);
    assert.equal(second.text, first.text);
    assert.equal(hits.get(p), 1);
  });
}

test("Vary: X-Forwarded-Proto: coalesced waiters take the leader's answer (one request upstream)", async (t) => {
  const h = await start(t, "vf-co:");
  const p = "/static/slow/a";
  slowGate = new Promise<void>((r) => {
    releaseSlow = r;
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 20 });
  t.after(() => agent.destroy());
  const replies = Promise.all(Array.from({ length: 20 }, () => send(h.port, { path: p, agent })));
  // The leader reached the upstream; the others wait on its fill (the gate holds its answer).
  await eventually("the leader upstream", () => (hits.get(p) === 1 ? true : undefined));
  await eventually("the waiters to queue on the fill", async () => {
    const m = await h.registry.getSingleMetric("shardgate_cache_requests_total")?.get();
    const miss = m?.values.find((v) => v.labels.result === "miss")?.value ?? 0;
    return miss >= 20 ? true : undefined;
  });
  releaseSlow();
  const all = await replies;
  for (const r of all) assert.equal(r.status, 200);
  assert.equal(hits.get(p), 1, `upstream saw ${hits.get(p)} requests (the waiters went upstream themselves)`);
  for (const r of all) assert.equal(r.text, `${p} #1 proto=http`);
});
