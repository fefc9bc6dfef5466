// Two real shardgate processes running the issue's example as written, sharing one real
// redis-server: affinity, limits and cache are shared; the cookie key comes from the cluster
// secret; Redis killed under load loses no request (fail open) and everything resumes when
// it is back.

import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { after, before, test } from "node:test";
import { redisSchema } from "../../config/file/edge-schema.js";
import { RedisStore } from "../../proxy/redis/redis-store.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { fetchJson, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";
import { CacheUpstream } from "./cache-upstream.js";
import { issueExampleWithPool } from "./fixtures.js";

const TOKEN = "edge-test-admin-token";
const SECRET = "a-shared-cluster-secret-0123456789";

let redis: RedisServer;
let members: CacheUpstream[];
let raw: RedisStore;

before(async () => {
  redis = await startRedis();
  members = await Promise.all(["u1", "u2", "u3"].map((id) => new CacheUpstream(id).start()));
  raw = new RedisStore(redisSchema.parse({ url: redis.url, keyPrefix: "" }), {
    debug() {},
    info() {},
    warn() {},
    error() {},
  });
});
after(async () => {
  await stopAll();
  await raw.close();
  await Promise.all(members.map((m) => m.close()));
  await stopAllRedis();
});

function config(node: string, secret = SECRET): string {
  return `${issueExampleWithPool(
    members.map((m) => ({ id: m.id, port: m.port })),
    redis.url,
  )}  - match: { host: "*", pathPrefix: /web }
    pool: users
    key: [header:x-user-id]
    affinity: { cookie: { name: sg_aff } }
  - match: { host: "*", pathPrefix: /quota }
    pool: users
    key: [header:x-user-id]
    rateLimit: { limit: 60, window: 1h }
admin: { token: ${TOKEN} }
headers: { memberHeader: x-member }
cluster: { id: ${node}, secret: "${secret}", listen: "127.0.0.1:0" }
redis: { url: ${redis.url}, keyPrefix: "sg:", commandTimeout: 2s, breaker: { failures: 3, openFor: 500ms } }
`.replace(/^redis: \{ url: redis:\/\/127\.0\.0\.1:\d+, keyPrefix: "sg:" \}\n/m, "");
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 32 });

function get(base: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString(),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

let a: RunningShardgate;
let b: RunningShardgate;

test("two instances start on the issue's example and share one Redis", async () => {
  [a, b] = await Promise.all([startShardgate(config("a")), startShardgate(config("b"))]);
  await eventually("both instances connected to redis", () =>
    a.proc.lines.some((l) => l.msg === "redis connected") &&
    b.proc.lines.some((l) => l.msg === "redis connected")
      ? true
      : undefined,
  );
});

test("affinity pinned through one instance is honoured and explained by the other", async () => {
  const first = await get(a.httpUrl, "/api/x", { "x-user-id": "alice" });
  assert.equal(first.status, 200, first.text);
  const member = JSON.parse(first.text).member as string;
  assert.equal(await raw.run((c) => c.get("sg:aff:{users|alice}")), member);
  const atB = await get(b.httpUrl, "/api/x", { "x-user-id": "alice" });
  assert.equal(JSON.parse(atB.text).member, member);
  const explained = await fetchJson(`${b.adminUrl}/admin/route?pool=users&key=alice`);
  assert.equal(explained.status, 200);
  const body = explained.body as {
    member: string;
    affinity: { member: string; source: string; route: string };
  };
  assert.equal(body.affinity.member, member);
  assert.ok(["store", "cache"].includes(body.affinity.source), body.affinity.source);
  assert.equal(body.affinity.route, "*/api");
  // A pin that disagrees with the ring is what the explanation reports as the destination.
  const other = members.find((m) => m.id !== member)?.id as string;
  await raw.run((c) => c.set("sg:aff:{users|bob}", other, "PX", 60_000));
  const bob = await fetchJson(`${a.adminUrl}/admin/route?pool=users&key=bob`);
  const bb = bob.body as { member: string; affinity: { source: string } };
  assert.equal(bb.member, other);
  assert.equal(bb.affinity.source, "store");
});

test("the rate limit is shared: two instances under concurrent load admit one bucket, within 5 %", async () => {
  // The example's route (100 per second) is live on both instances...
  const r = await get(a.httpUrl, "/api/x", { "x-user-id": "rl-probe" });
  assert.equal(r.headers["ratelimit-limit"], "100");
  // ...and a bucket that does not refill during the test shows the sharing exactly.
  const replies = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      get(i % 2 === 0 ? a.httpUrl : b.httpUrl, "/quota/x", { "x-user-id": "quota-key" }),
    ),
  );
  const allowed = replies.filter((x) => x.status === 200).length;
  const limited = replies.filter((x) => x.status === 429);
  assert.equal(allowed + limited.length, 200);
  assert.ok(Math.abs(allowed - 60) <= 3, `allowed ${allowed} of a shared limit of 60`);
  const l = limited[0];
  assert.ok(Number(l.headers["retry-after"]) >= 1);
  assert.equal(l.headers["ratelimit-limit"], "60");
  assert.equal(JSON.parse(l.text).error, "rate_limited");
});

test("the cache is shared, and an admin purge removes an entry for every instance", async () => {
  const p = "/static/public/logo";
  // The fleet's one name: each instance listens on its own port, and a Host's port is part of
  // the entry's key.
  const SITE = { host: "fleet.test" };
  const m = await get(a.httpUrl, p, SITE);
  assert.equal(m.headers["x-cache"], "MISS");
  const hit = await eventually("B to hit A's entry", async () => {
    const r = await get(b.httpUrl, p, SITE);
    return r.headers["x-cache"] === "HIT" ? r : undefined;
  });
  assert.equal(hit.text, m.text);
  const purged = await fetchJson(`${a.adminUrl}/admin/cache/purge`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ prefix: "/static/public/" }),
  });
  assert.equal(purged.status, 200, JSON.stringify(purged.body));
  assert.ok((purged.body as { removed: number }).removed >= 1);
  assert.equal((await get(b.httpUrl, p, SITE)).headers["x-cache"], "MISS");
  // A purge names the entry as a request would: dot segments and encoded dots normalised.
  await eventually("A to hit the entry B stored again", async () =>
    (await get(a.httpUrl, p, SITE)).headers["x-cache"] === "HIT" ? true : undefined,
  );
  const dotted = await fetchJson(`${a.adminUrl}/admin/cache/purge`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ url: "/static/./public/%2e%2E/public/logo" }),
  });
  assert.equal(dotted.status, 200, JSON.stringify(dotted.body));
  assert.equal((dotted.body as { value: string }).value, p);
  assert.ok((dotted.body as { removed: number }).removed >= 1, JSON.stringify(dotted.body));
  assert.equal((await get(b.httpUrl, p, SITE)).headers["x-cache"], "MISS");
  const refused = await fetchJson(`${a.adminUrl}/admin/cache/purge`, { method: "POST", body: "{}" });
  assert.equal(refused.status, 401);
  const badBody = await fetchJson(`${a.adminUrl}/admin/cache/purge`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ url: "no-slash" }),
  });
  assert.equal(badBody.status, 400);
});

test("an affinity cookie issued by one instance is honoured by the other; a foreign fleet's is refused", async () => {
  const first = await get(a.httpUrl, "/web/x", { "x-user-id": "carol" });
  const setCookie = ([] as string[])
    .concat(first.headers["set-cookie"] ?? [])
    .find((c) => c.startsWith("sg_aff="));
  assert.ok(setCookie, "A set the affinity cookie");
  const cookie = setCookie.slice(0, setCookie.indexOf(";"));
  const pinned = first.headers["x-member"] as string;
  // A key whose ring owner is another member: the cookie must win at B.
  let key = "";
  for (let i = 0; i < 200 && key === ""; i++) {
    const r = await get(b.httpUrl, "/web/x", { "x-user-id": `d${i}` });
    if (r.headers["x-member"] !== pinned) key = `d${i}`;
  }
  assert.notEqual(key, "");
  const atB = await get(b.httpUrl, "/web/x", { "x-user-id": key, cookie });
  assert.equal(atB.headers["x-member"], pinned);
  assert.equal(atB.headers["set-cookie"], undefined);
  const value = encodeURIComponent(cookie.slice("sg_aff=".length));
  const explained = await fetchJson(
    `${b.adminUrl}/admin/route?pool=users&key=${key}&route=${encodeURIComponent("*/web")}&cookie=${value}`,
  );
  const eb = explained.body as {
    member: string;
    owner: string;
    affinity: { member: string; source: string };
  };
  assert.deepEqual([eb.affinity.source, eb.affinity.member, eb.member], ["cookie", pinned, pinned]);
  assert.notEqual(eb.owner, pinned, "the explanation shows affinity overriding the ring's owner");
  const forged = await fetchJson(
    `${b.adminUrl}/admin/route?pool=users&key=${key}&route=${encodeURIComponent("*/web")}&cookie=${value}x`,
  );
  assert.equal((forged.body as { affinity: { source: string } }).affinity.source, "ring");
  const metrics = await fetch(`${b.adminUrl}/metrics`).then((r) => r.text());
  assert.match(metrics, /shardgate_requests_not_owner_total\{pool="users",reason="affinity"\} [1-9]/);
  assert.match(metrics, /shardgate_affinity_total\{route="\*\/web",kind="cookie",outcome="hit"\} [1-9]/);
  const foreign = await startShardgate(config("c", "another-fleet-secret-0123456789"));
  try {
    const r = await get(foreign.httpUrl, "/web/x", { "x-user-id": key, cookie });
    assert.notEqual(r.headers["x-member"], pinned);
    assert.ok(([] as string[]).concat(r.headers["set-cookie"] ?? []).some((c) => c.startsWith("sg_aff=")));
  } finally {
    await foreign.stop();
  }
});

test("Redis killed under load: zero failed requests (fail open); restarted: affinity, limits and cache resume", async () => {
  let failures = 0;
  let done = 0;
  let stop = false;
  const errors: string[] = [];
  const loop = async (base: string, w: number) => {
    for (let i = 0; i < 5000 && !stop; i++) {
      // Distinct keys stay far below 100/s each: every refusal here would be a failure.
      const path = i % 3 === 0 ? `/static/public/load${i % 7}` : "/api/load";
      try {
        const r = await get(base, path, { "x-user-id": `load-${w}-${i}` });
        if (r.status !== 200) {
          failures++;
          errors.push(`${r.status} ${r.text.slice(0, 100)}`);
        }
      } catch (err) {
        failures++;
        errors.push(String(err));
      }
      done++;
    }
  };
  const loops = [0, 1, 2, 3].map((w) => loop(w % 2 === 0 ? a.httpUrl : b.httpUrl, w));
  const deadline = Date.now() + scaled(60_000);
  const waitDone = async (n: number) => {
    while (done < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };
  await waitDone(100);
  await redis.kill();
  const atKill = done;
  await waitDone(atKill + 300);
  await redis.start(redis.port);
  const atRestart = done;
  await waitDone(atRestart + 100);
  stop = true;
  await Promise.all(loops);
  assert.ok(done - atKill >= 300, `only ${done - atKill} requests while Redis was down`);
  assert.equal(failures, 0, errors.slice(0, 5).join("\n"));
  const metrics = await fetch(`${a.adminUrl}/metrics`).then((r) => r.text());
  assert.match(metrics, /shardgate_store_errors_total\{feature="(affinity|rate_limit|cache)"\} [1-9]/);

  await eventually(
    "the clients to reconnect",
    async () => ((await raw.run((c) => c.ping())) === "PONG" ? true : undefined),
    15_000,
  );
  // Affinity: new pins are written again.
  await eventually(
    "a new pin in Redis",
    async () => {
      await get(a.httpUrl, "/api/x", { "x-user-id": "after-restart" });
      return (await raw.run((c) => c.get("sg:aff:{users|after-restart}"))) !== null ? true : undefined;
    },
    15_000,
    200,
  );
  // Limits: a key's bucket empties again (60 an hour on /quota).
  await eventually(
    "the rate limit to apply again",
    async () => {
      const rs = await Promise.all(
        Array.from({ length: 70 }, () => get(b.httpUrl, "/quota/x", { "x-user-id": "rl-after" })),
      );
      return rs.some((r) => r.status === 429) ? true : undefined;
    },
    15_000,
    500,
  );
  // Cache: a fresh entry is stored and hit again.
  await eventually(
    "the cache to hit again",
    async () => {
      const r = await get(a.httpUrl, "/static/public/after");
      return r.headers["x-cache"] === "HIT" ? true : undefined;
    },
    15_000,
    200,
  );
});
