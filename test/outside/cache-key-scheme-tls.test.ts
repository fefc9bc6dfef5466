// The shared cache's scheme on shardgate's own listeners, tried from the outside: two real
// shardgate processes sharing one real redis-server, one listening with TLS (HTTP/1.1 and h2 by
// ALPN), one on plain HTTP (HTTP/1.1 and h2c), in front of one real member that names the
// X-Forwarded-Proto it was told. With no trusted proxy the scheme in the key is this hop's: every
// client of the TLS listener, whatever its HTTP version, shares the https entry, and every client
// of the plain one the http entry, across instances; an answer built for one is never served to
// the other (cache-key-scheme.test.ts tries the same with a trusted proxy's X-Forwarded-Proto).
// Every client names one site, so only the scheme tells the entries apart.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CacheRulesMember } from "../support/cache-rules-member.js";
import { h2Request, h2Session } from "../support/h2-client.js";
import { startRedis, stopAllRedis } from "../support/redis-server.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { startedInHook } from "../support/started-in-hook.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { textRequest } from "../support/text-request.js";
import { eventually, scaled } from "../support/wait.js";

let member: CacheRulesMember | undefined;
let tls: RunningShardgate | undefined;
let plain: RunningShardgate | undefined;
let dir = "";
let ca: Buffer | undefined;
/** The site every client asks for (Host, or :authority over HTTP/2). */
const SITE = "shop.test";

before(async () => {
  const redis = await startRedis();
  member = await new CacheRulesMember().start();
  dir = mkdtempSync(join(tmpdir(), "sg-cache-tls-"));
  makeCa(dir);
  issueCert(dir, "listener", "127.0.0.1", `IP:127.0.0.1,DNS:${SITE}`);
  ca = readFileSync(join(dir, "ca.pem"));
  const rest = `log: { level: info, accessLog: false }
redis: { url: ${redis.url}, keyPrefix: "sct:" }
pools:
  users:
    members: [{ id: origin, address: "127.0.0.1:${member.port}" }]
routes:
  - match: { pathPrefix: /static }
    pool: users
    key: [path:2]
    cache: { store: redis, maxBytes: 64kb }
`;
  const cert = `tls: { cert: ${join(dir, "listener.pem")}, key: ${join(dir, "listener.key")} }`;
  tls = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0, ${cert} }\n${rest}`);
  plain = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }\n${rest}`);
});

after(async () => {
  await stopAll();
  await stopAllRedis();
  await member?.close();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  cache: string;
  body: string;
}

/** One HTTP/1.1 GET over TLS to the TLS listener. */
function httpsGet(path: string): Promise<Answer> {
  const port = Number(new URL(startedInHook(tls, "the TLS shardgate").httpUrl).port);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path,
        headers: { host: SITE },
        ca: startedInHook(ca, "the CA"),
        timeout: scaled(10_000),
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          body += d;
        });
        res.on("end", () => resolve({ cache: String(res.headers["x-cache"]), body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer to https ${path}`)));
    req.on("error", reject);
    req.end();
  });
}

async function plainGet(path: string): Promise<Answer> {
  const port = Number(new URL(startedInHook(plain, "the plain shardgate").httpUrl).port);
  const a = await textRequest(port, { path, headers: { host: SITE }, setHost: false });
  return { cache: String(a.headers["x-cache"]), body: a.body };
}

/** Asks until the answer is a HIT (an entry is written to Redis after its miss is answered). */
function hit(what: string, get: () => Promise<Answer>): Promise<Answer> {
  return eventually(`${what} answered from the cache`, async () => {
    const a = await get();
    return a.cache === "HIT" ? a : undefined;
  });
}

test("clients of a TLS listener share the https entry over HTTP/1.1 and h2; a plain listener's get the http one", async (t) => {
  const path = "/static/tls/page";
  const first = await httpsGet(path);
  assert.equal(first.cache, "MISS");
  assert.match(first.body, /proto=https$/);
  const h2 = await h2Session(t, startedInHook(tls, "the TLS shardgate").httpUrl.replace("http:", "https:"), {
    ca,
  });
  const h2Hit = await hit("h2 over TLS", async () => {
    const r = await h2Request(h2, { path, headers: { ":authority": SITE } });
    return { cache: String(r.headers["x-cache"]), body: r.text };
  });
  assert.equal(h2Hit.body, first.body);
  // The other instance, on plain HTTP: its clients were served the https answer when the key had
  // no scheme.
  const other = await plainGet(path);
  assert.equal(other.cache, "MISS", `a plain client was served ${other.body}`);
  assert.match(other.body, /proto=http$/);
  const h2c = await h2Session(t, startedInHook(plain, "the plain shardgate").httpUrl);
  const h2cHit = await hit("h2c", async () => {
    const r = await h2Request(h2c, { path, headers: { ":authority": SITE } });
    return { cache: String(r.headers["x-cache"]), body: r.text };
  });
  assert.equal(h2cHit.body, other.body);
  assert.equal((await hit("https", () => httpsGet(path))).body, first.body);
  const m = startedInHook(member, "the member");
  assert.equal(m.count(path), 2, m.asked.join("\n"));
});
