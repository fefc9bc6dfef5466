// Unkeyed forwarding fields and the shared cache, tried from the outside: a real shardgate
// process, a real redis-server and a real member on 127.0.0.1 that builds its self link the way
// Spring's ForwardedHeaderFilter and Rack do, from X-Forwarded-Proto / -Host / -Port / -Prefix /
// -Ssl. shardgate sets X-Forwarded-Proto and -Host itself for an untrusted client, but passed
// the others on as the client wrote them, and the cache keys none of them: one client's
// `X-Forwarded-Port: 6666` made the member's answer link to port 6666, stored under the URL and
// served to everyone after it (the classic unkeyed-header cache poisoning). Now those fields
// reach a member only from a trusted proxy (`trustedProxies`), as Traefik keeps them.

import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { h2Request, h2Session } from "../support/h2-client.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { textRequest } from "../support/text-request.js";
import { eventually } from "../support/wait.js";

/** What an attacker adds to a plain request to steer the member's links. */
const STEERING = {
  "x-forwarded-port": "6666",
  "x-forwarded-prefix": "/evil",
  "x-forwarded-ssl": "on",
  "x-forwarded-scheme": "https",
  "x-forwarded-server": "evil.test",
  "x-forwarded-uri": "/evil/uri",
  "x-real-ip": "203.0.113.9",
};

let redis: RedisServer;
let member: Server;
let sg: RunningShardgate;
let port = 0;
/** The steering fields the member was sent, per request. */
const received: Array<Record<string, string>> = [];

/** The self link a framework builds from the forwarding fields it trusts. */
function selfLink(h: IncomingHttpHeaders, path: string): string {
  const ssl = h["x-forwarded-ssl"] === "on" ? "https" : undefined;
  const scheme = ssl ?? (h["x-forwarded-scheme"] as string | undefined) ?? h["x-forwarded-proto"];
  const port = h["x-forwarded-port"] === undefined ? "" : `:${h["x-forwarded-port"]}`;
  return `${scheme}://${h["x-forwarded-host"]}${port}${h["x-forwarded-prefix"] ?? ""}${path}`;
}

before(async () => {
  redis = await startRedis();
  member = createServer((req, res) => {
    const seen: Record<string, string> = {};
    for (const name of Object.keys(STEERING)) {
      const v = req.headers[name];
      if (typeof v === "string") seen[name] = v;
    }
    received.push(seen);
    res.setHeader("cache-control", "max-age=60");
    res.setHeader("content-type", "text/plain");
    res.end(selfLink(req.headers, req.url ?? ""));
  });
  await new Promise<void>((r) => member.listen(0, "127.0.0.1", r));
  const memberPort = (member.address() as AddressInfo).port;
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
redis: { url: ${redis.url}, keyPrefix: "ff:" }
pools:
  users:
    members: [{ id: origin, address: "127.0.0.1:${memberPort}" }]
routes:
  - match: { pathPrefix: /static }
    pool: users
    key: [path:2]
    cache: { store: redis, maxBytes: 64kb }
  - match: { pathPrefix: /behind }
    pool: users
    key: [path:2]
    trustedProxies: [127.0.0.1/32]
  - match: { pathPrefix: /plain }
    pool: users
    key: [path:2]
`);
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  await stopAllRedis();
  member?.closeAllConnections();
  member?.close();
});

interface Answer {
  cache: string;
  body: string;
}

async function get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const a = await textRequest(port, { path, headers: { host: "shop.test", ...headers } });
  assert.equal(a.status, 200, a.body);
  return { cache: String(a.headers["x-cache"]), body: a.body };
}

test("an untrusted client's forwarding fields never reach the member, so they cannot steer a stored answer", async () => {
  const path = "/static/links/home";
  const planted = await get(path, STEERING);
  assert.equal(planted.cache, "MISS");
  // The old code: https://shop.test:6666/evil/static/links/home.
  assert.equal(planted.body, `http://shop.test${path}`, "the attacker's own answer");
  assert.deepEqual(received.at(-1), {}, "the member was sent none of the steering fields");
  const victim = await eventually(`${path} answered from the cache`, async () => {
    const a = await get(path);
    return a.cache === "HIT" ? a : undefined;
  });
  assert.equal(victim.body, `http://shop.test${path}`, "what everyone after the attacker is served");
});

test("without a cache too, an untrusted client's forwarding fields are dropped", async () => {
  await get("/plain/x", STEERING);
  assert.deepEqual(received.at(-1), {});
});

test("over HTTP/2 too, an untrusted client's forwarding fields are dropped", async (t) => {
  const session = await h2Session(t, sg.httpUrl);
  const r = await h2Request(session, {
    path: "/static/links/h2",
    headers: { ...STEERING, host: "shop.test" },
  });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(received.at(-1), {});
  assert.equal(r.text, "http://shop.test/static/links/h2");
});

test("a trusted proxy's forwarding fields are passed on as it wrote them", async () => {
  const a = await get("/behind/x", STEERING);
  assert.deepEqual(received.at(-1), STEERING);
  assert.equal(a.body, "https://shop.test:6666/evil/behind/x");
});
