// The shared cache and a response that varies on this hop's forwarding headers. Since this hop's
// X-Forwarded-For / Forwarded entry is added after the edge features ran (so that a rate limit
// reads the client's hops), the cache looked an entry up by the client's header value but stored
// it by the forwarded one: `Vary: X-Forwarded-For` never hit for a client that sends none, and a
// client sending the forwarded text of another (here "A, 127.0.0.1") was answered the other's
// entry. A real upstream answers `Vary: <header>` and echoes the value it saw; every answer, HIT
// or MISS, must be the one the upstream gives for the header this request is forwarded with, and
// a repeat of the same request must hit.

import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import type { ShardgateConfigInput } from "../../config/file/schema.js";
import { send } from "../proxy/harness.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import { eventually } from "../support/wait.js";
import { type EdgeHarness, startEdgeHarness } from "./edge-harness.js";

const SEED = testSeed(5150);

/** Answers /v/<header>/... cacheable with `Vary: <header>` and the value of <header> it saw as the body. */
class VaryUpstream {
  private readonly server: Server = createServer((req, res) => this.onRequest(req, res));
  port = 0;
  asked = 0;

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
    this.asked++;
    const name = (req.url ?? "").split("/")[2] ?? "";
    const seen = req.headers[name];
    const body = `${name}=${Array.isArray(seen) ? seen.join(",") : (seen ?? "")}`;
    res.writeHead(200, {
      "content-type": "text/plain",
      "cache-control": "public, max-age=60",
      vary: name,
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  }
}

let redis: RedisServer;
let up: VaryUpstream;
before(async () => {
  redis = await startRedis();
  up = await new VaryUpstream().start();
});
after(async () => {
  await up.close();
  await stopAllRedis();
});

function config(trusted: boolean): () => ShardgateConfigInput {
  return () => ({
    pools: { users: { members: [{ id: "origin", address: `127.0.0.1:${up.port}` }] } },
    routes: [
      {
        match: { pathPrefix: "/v" },
        pool: "users",
        key: ["path:3"],
        cache: { maxBytes: "1kb" },
        ...(trusted ? { trustedProxies: ["127.0.0.0/8"] } : {}),
      },
    ],
  });
}

async function start(t: { after(fn: () => Promise<void>): void }, prefix: string, trusted: boolean) {
  const h = await startEdgeHarness({
    members: 1,
    redisUrl: redis.url,
    redis: { keyPrefix: prefix },
    config: config(trusted),
  });
  t.after(() => h.close());
  return h;
}

/** GET `path` with `value` in `header` (none when ""); the answer's cache result and body. */
async function get(h: EdgeHarness, path: string, header: string, value: string) {
  const r = await send(h.port, { path, headers: value === "" ? {} : { [header]: value } });
  assert.equal(r.status, 200, `${path} ${header}: ${value}: ${r.status} ${r.text}`);
  return { cache: String(r.headers["x-cache"]), body: r.text };
}

/** The X-Forwarded-For an upstream gets for a client value from the (untrusted or trusted) 127.0.0.1. */
function forwardedXff(value: string): string {
  return value === "" ? "127.0.0.1" : `${value}, 127.0.0.1`;
}

test(`Vary: X-Forwarded-For: a repeat hits, and no client gets another's entry (${seedNote(SEED)})`, async (t) => {
  const h = await start(t, "cvx:", false);
  const random = seededRandom(SEED);
  const pick = (n: number) => Math.floor(random() * n);
  const a = `198.51.100.${1 + pick(200)}`;
  // Client values: none, an address, and the forwarded text of each (what a spoofing client sends).
  const values = ["", a, forwardedXff(""), forwardedXff(a), `203.0.113.${1 + pick(200)}`];
  for (let round = 0; round < 3; round++) {
    const path = `/v/x-forwarded-for/p${round}`;
    const order = values.map((v) => [random(), v] as const).sort((x, y) => x[0] - y[0]);
    for (const [, value] of order) {
      const what = `${path} X-Forwarded-For "${value}" (${seedNote(SEED)})`;
      const expected = `x-forwarded-for=${forwardedXff(value)}`;
      const first = await get(h, path, "x-forwarded-for", value);
      assert.equal(first.body, expected, `${what}: the answer for this request's forwarded header`);
      // Its own entry is written in the background: the same request hits it then, same body.
      await eventually(`${what} to hit`, async () => {
        const again = await get(h, path, "x-forwarded-for", value);
        assert.equal(again.body, expected, `${what}: ${again.cache} answer`);
        return again.cache === "HIT" ? true : undefined;
      });
    }
  }
});

test(`Vary: Forwarded behind a trusted proxy: each client's element is its own entry (${seedNote(SEED)})`, async (t) => {
  const h = await start(t, "cvf:", true);
  const random = seededRandom(SEED + 1);
  const hop = (await get(h, "/v/forwarded/probe", "forwarded", "")).body.slice("forwarded=".length);
  assert.match(hop, /^for=/, `this hop's element: ${hop}`);
  const client = `for=198.51.100.${1 + Math.floor(random() * 200)}`;
  for (const value of ["", client, `${client}, ${hop}`, `for=203.0.113.${1 + Math.floor(random() * 200)}`]) {
    const path = "/v/forwarded/x";
    const what = `${path} Forwarded "${value}" (${seedNote(SEED)})`;
    const expected = `forwarded=${value === "" ? hop : `${value}, ${hop}`}`;
    const first = await get(h, path, "forwarded", value);
    assert.equal(first.body, expected, `${what}: the answer for this request's forwarded header`);
    await eventually(`${what} to hit`, async () => {
      const again = await get(h, path, "forwarded", value);
      assert.equal(again.body, expected, `${what}: ${again.cache} answer`);
      return again.cache === "HIT" ? true : undefined;
    });
  }
});

test("a client sending another's forwarded X-Forwarded-For is not answered the other's entry", async (t) => {
  const h = await start(t, "cvs:", false);
  const path = "/v/x-forwarded-for/spoof";
  // A: no header, forwarded as "127.0.0.1"; its entry is written in the background.
  assert.equal((await get(h, path, "x-forwarded-for", "")).body, "x-forwarded-for=127.0.0.1");
  await eventually(`${path}'s entry to be stored`, async () => {
    const n = await h.store?.run((c) => c.exists(`c:{*/v|http://127.0.0.1:${h.port}|GET|${path}}`));
    return n === 1 ? true : undefined;
  });
  // B sends A's forwarded text: it is forwarded as "127.0.0.1, 127.0.0.1", another variant.
  const b = await get(h, path, "x-forwarded-for", "127.0.0.1");
  assert.equal(b.body, "x-forwarded-for=127.0.0.1, 127.0.0.1", `B's answer (${b.cache})`);
  assert.equal(b.cache, "MISS");
});
