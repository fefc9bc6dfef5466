// A request on a cached route used to have this hop's forwarding fields (X-Forwarded-For,
// -Proto, -Host, Forwarded) worked out twice: once for the cache's lookup view
// (headers.ts upstreamHeaderView) and again when forwarded (setForwardedHeaders). Now the
// forward copies them from the view. Counted, not timed: the Forwarded element is asked of the
// connection's facts (ConnectionFacts.forwardedElement) once per build, so once per request on
// a cached route as on an uncached one (two before). And the upstream's head is unchanged: a real
// upstream answers the raw header list it received, and for seeded mixes of client forwarding
// headers, trusted and untrusted, the cached route's upstream gets exactly the head the uncached
// route's gets (the uncached path still builds them as before; both on the http-proxy-3 engine,
// which edge routes always use).

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import type { ShardgateConfigInput } from "../../config/file/schema.js";
import { ConnectionFacts } from "../../proxy/forward/connection-facts.js";
import { send } from "../proxy/harness.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { type EdgeHarness, startEdgeHarness } from "./edge-harness.js";

const SEED = testSeed(61_616);

/** Answers every request with its raw header list as JSON, never storable (every lookup misses). */
class HeadEcho {
  private readonly server: Server = createServer((req, res) => this.onRequest(req, res));
  port = 0;

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const body = JSON.stringify(req.rawHeaders);
    res.writeHead(200, {
      "content-type": "application/json",
      "cache-control": "no-store",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  }
}

let redis: RedisServer;
let up: HeadEcho;
before(async () => {
  redis = await startRedis();
  up = await new HeadEcho().start();
});
after(async () => {
  await up.close();
  await stopAllRedis();
});

function config(trusted: boolean): () => ShardgateConfigInput {
  const trust = trusted ? { trustedProxies: ["127.0.0.0/8"] } : {};
  return () => ({
    pools: { users: { members: [{ id: "origin", address: `127.0.0.1:${up.port}` }] } },
    routes: [
      { match: { pathPrefix: "/c/" }, pool: "users", key: ["path:2"], cache: { maxBytes: "4kb" }, ...trust },
      { match: { pathPrefix: "/n/" }, pool: "users", key: ["path:2"], ...trust },
    ],
  });
}

/** Counts ConnectionFacts.forwardedElement calls while `fn` runs (one per forwarding build). */
async function countBuilds<T>(fn: () => Promise<T>): Promise<{ value: T; builds: number }> {
  const proto = ConnectionFacts.prototype;
  const original = proto.forwardedElement;
  let builds = 0;
  proto.forwardedElement = function (this: ConnectionFacts, host: string | undefined, scheme: string) {
    builds++;
    return original.call(this, host, scheme);
  };
  try {
    return { value: await fn(), builds };
  } finally {
    proto.forwardedElement = original;
  }
}

async function head(h: EdgeHarness, path: string, headers: Record<string, string>): Promise<string[]> {
  const r = await send(h.port, { path, headers });
  assert.equal(r.status, 200, `${path}: ${r.status} ${r.text}`);
  return JSON.parse(r.text) as string[];
}

for (const trusted of [false, true]) {
  test(`cached route, ${trusted ? "trusted" : "untrusted"} client: forwarding built once, the upstream's head as on an uncached route (${seedNote(SEED)})`, async (t) => {
    // Edge routes are always forwarded by http-proxy-3; the uncached route's plane is made to
    // use it too, so the two heads differ only by what this hop's fields are.
    const engine = process.env.SHARDGATE_ENGINE;
    process.env.SHARDGATE_ENGINE = "http-proxy";
    const h = await startEdgeHarness({
      members: 1,
      redisUrl: redis.url,
      redis: { keyPrefix: `cfo${trusted ? "t" : "u"}:` },
      config: config(trusted),
    }).finally(() => {
      if (engine === undefined) delete process.env.SHARDGATE_ENGINE;
      else process.env.SHARDGATE_ENGINE = engine;
    });
    t.after(() => h.close());
    const random = seededRandom(SEED + (trusted ? 1 : 0));
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
    const n = () => 1 + Math.floor(random() * 250);
    for (let i = 0; i < 24; i++) {
      const headers: Record<string, string> = { "x-request-id": `cfo-${i}-${n()}`, accept: "*/*" };
      const xff = pick(["", `198.51.100.${n()}`, `203.0.113.${n()}, 10.0.0.${n()}`]);
      if (xff !== "") headers["x-forwarded-for"] = xff;
      const fwd = pick(["", `for=198.51.100.${n()};proto=https`]);
      if (fwd !== "") headers.forwarded = fwd;
      const proto = pick(["", "https"]);
      if (proto !== "") headers["x-forwarded-proto"] = proto;
      const xfh = pick(["", "edge.example"]);
      if (xfh !== "") headers["x-forwarded-host"] = xfh;
      headers.host = pick(["a.example", "b.example:8080"]);
      const what = `${JSON.stringify(headers)} (${seedNote(SEED)})`;
      const cached = await countBuilds(() => head(h, `/c/k${i}`, headers));
      const plain = await countBuilds(() => head(h, `/n/k${i}`, headers));
      assert.equal(plain.builds, 1, `uncached route: one forwarding build: ${what}`);
      assert.equal(cached.builds, 1, `cached route: one forwarding build, not one per use: ${what}`);
      assert.deepEqual(cached.value, plain.value, `the upstream's head: ${what}`);
      // And it carries this hop's fields (not a head both paths left alone).
      const names = cached.value.filter((_, j) => j % 2 === 0).map((x) => x.toLowerCase());
      for (const name of ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded"])
        assert.ok(names.includes(name), `${name} forwarded: ${what}\n${JSON.stringify(cached.value)}`);
      const sentXff = cached.value[cached.value.findIndex((x) => x.toLowerCase() === "x-forwarded-for") + 1];
      assert.equal(sentXff, xff === "" ? "127.0.0.1" : `${xff}, 127.0.0.1`, what);
    }
  });
}
