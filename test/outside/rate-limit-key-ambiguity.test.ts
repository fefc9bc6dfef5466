// A rate-limit key sent two ways is refused (400 ambiguous_key), never reaching the member or
// Redis. Found: on a route limited to one request per window on `header:x-api-key`, the key sent
// on two lines (`k` + `k`, `k` + `j`) or an empty line then `k` was admitted every time: the lines
// are joined with ", ", so each spelling was a bucket of its own, while a member in Go or Java
// reads the first line (`k`) and PHP the last. The same for a query parameter named twice with
// different values. A cookie named twice is no such refusal (browsers send a cookie set on two
// paths that way): every value's bucket pays. A real shardgate process, a real redis-server and
// h2c members that name themselves; the keys are seeded, so every run counts fresh buckets.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import {
  grpcCall,
  grpcClient,
  type MemberServer,
  rawH1,
  rawH2Get,
  startNamingMember,
} from "../support/key-carriers.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { rawExchange, statusAndError } from "../support/raw-socket.js";
import { type RedisServer, startRedis, stopAllRedis } from "../support/redis-server.js";
import {
  fetchJson,
  metricValue,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";

const SEED = testSeed(19_127);
const random = seededRandom(SEED);

function token(): string {
  return `k${Math.floor(random() * 36 ** 8).toString(36)}`;
}

describe(`a rate-limit key sent two ways is refused (${seedNote(SEED)})`, { timeout: 180_000 }, () => {
  const seen = new Map<string, string>();
  let member: MemberServer;
  let redis: RedisServer;
  let store: Redis;
  let sg: RunningShardgate;
  let port = 0;
  let probes = 0;

  before(async () => {
    redis = await startRedis();
    store = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    member = await startNamingMember("m0", seen);
    const limited = "rateLimit: { limit: 1, window: 1h }";
    sg = await startShardgate(`listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
admin:
  token: ""
redis: { url: "${redis.url}", keyPrefix: "amb:" }
pools:
  users:
    protocol: h2c
    members:
      - { id: m0, address: "127.0.0.1:${member.port}" }
routes:
  - { match: { pathPrefix: /h/ }, pool: users, key: [header:x-api-key], ${limited} }
  - { match: { pathPrefix: /own/ }, pool: users, key: [path:2], ${limited}, onMissingKey: reject }
  - { match: { pathPrefix: /c/ }, pool: users, key: [cookie:sid], ${limited} }
  - { match: { pathPrefix: /q/ }, pool: users, key: [query:k], ${limited} }
  - { match: { pathPrefix: /two/ }, pool: users, key: [header:x-api-key, cookie:sid], ${limited} }
  - { match: { pathPrefix: /open/ }, pool: users, key: [header:x-api-key] }
  - { match: { pathPrefix: /hc/ }, pool: users, key: [header:cookie], ${limited} }
`);
    port = Number(/(\d+)$/.exec(sg.httpUrl)?.[1]);
  });
  after(async () => {
    await stopAll();
    store?.disconnect();
    await member?.close();
    await stopAllRedis();
  });

  /** A raw HTTP/1.1 request carrying a fresh probe; the member that saw the probe, if any. */
  async function h1(target: string, lines: string[]): Promise<{ status: number; reached: boolean }> {
    const probe = `p${++probes}`;
    const r = await rawH1(port, target, [...lines, `x-probe: ${probe}`]);
    return { status: r.status, reached: seen.has(probe) };
  }

  async function h2(
    target: string,
    fields: [string, string][],
  ): Promise<{ status: number; reached: boolean }> {
    const probe = `p${++probes}`;
    const status = await rawH2Get(port, target, [...fields, ["x-probe", probe]]);
    return { status, reached: seen.has(probe) };
  }

  async function refusals(): Promise<number> {
    const m = await fetchJson(`${sg.adminUrl}/metrics`);
    return metricValue(m.text, "shardgate_downstream_client_errors_total", { code: "ambiguous_key" }) ?? 0;
  }

  it("refuses a header key on two lines or two HTTP/2 fields, whatever their values", async () => {
    const k = token();
    const j = token();
    const before = await refusals();
    const buckets = await store.dbsize();
    const spellings: [string, () => Promise<{ status: number; reached: boolean }>][] = [
      ["HTTP/1.1 k + k", () => h1("/h/x", [`X-Api-Key: ${k}`, `X-Api-Key: ${k}`])],
      ["HTTP/1.1 k + j", () => h1("/h/x", [`X-Api-Key: ${k}`, `x-api-key: ${j}`])],
      ["HTTP/1.1 empty + k", () => h1("/h/x", ["X-Api-Key:", `X-Api-Key: ${k}`])],
      ["HTTP/1.1 k + empty", () => h1("/h/x", [`X-Api-Key: ${k}`, "X-Api-Key: "])],
      [
        "HTTP/2 k + j",
        () =>
          h2("/h/x", [
            ["x-api-key", k],
            ["x-api-key", j],
          ]),
      ],
      [
        "HTTP/2 k + k",
        () =>
          h2("/h/x", [
            ["x-api-key", k],
            ["x-api-key", k],
          ]),
      ],
    ];
    const wrong: string[] = [];
    // Twice each: on the old code every spelling was admitted at least once (a bucket of its own).
    for (let round = 0; round < 2; round++)
      for (const [name, send] of spellings) {
        const r = await send();
        if (r.status !== 400 || r.reached) wrong.push(`${name}: ${r.status}, member reached: ${r.reached}`);
      }
    assert.deepEqual(wrong, [], `${wrong.length} ambiguous spellings not refused (${seedNote(SEED)})`);
    assert.equal(await store.dbsize(), buckets, "no bucket was made for a refused request");
    assert.equal((await refusals()) - before, 2 * spellings.length, "each refusal is counted");
    // The refusal is shardgate's coded JSON error.
    const raw = await rawExchange(
      port,
      `GET /h/x HTTP/1.1\r\nHost: keys.test\r\nX-Api-Key: ${k}\r\nX-Api-Key: ${j}\r\nConnection: close\r\n\r\n`,
      5_000,
    );
    assert.deepEqual(statusAndError(raw), { status: 400, error: "ambiguous_key" }, raw);
    // Logged as other refused requests are: an access log line with the code.
    const line = await sg.proc.waitForLine(
      "an access log line for ambiguous_key",
      (l) => l.error === "ambiguous_key" && l.status === 400,
    );
    assert.equal(line.route !== undefined, true, JSON.stringify(line));
    // The key on one line is counted as before: admitted once, then limited.
    assert.deepEqual(await h1("/h/x", [`X-Api-Key: ${k}`]), { status: 200, reached: true });
    assert.equal((await h1("/h/x", [`X-Api-Key: ${k}`])).status, 429);
    assert.equal((await h2("/h/x", [["x-api-key", j]])).status, 200, "one HTTP/2 field is admitted");
  });

  it("answers a gRPC call with repeated key metadata INVALID_ARGUMENT", async () => {
    const k = token();
    const client = grpcClient(port);
    try {
      // grpcCall's status: 200 for OK, else 500 + the gRPC code (3 INVALID_ARGUMENT).
      const two = await grpcCall(client, "/h/svc.Echo/Call", { "x-api-key": [k, token()] });
      assert.deepEqual(two, { status: 503, member: "" }, `repeated metadata (${seedNote(SEED)})`);
      const one = await grpcCall(client, "/h/svc.Echo/Call", { "x-api-key": [k] });
      assert.deepEqual(one, { status: 200, member: "m0" }, "one metadata value");
    } finally {
      client.close();
    }
  });

  it("reads only the rate limit's own key sources: other repeated headers are left alone", async () => {
    const seg = token();
    const r = await h1(`/own/${seg}`, ["X-Api-Key: a", "X-Api-Key: b"]);
    assert.deepEqual(
      r,
      { status: 200, reached: true },
      `a path key is not made ambiguous by a header (${seedNote(SEED)})`,
    );
  });

  it("reads sources in order: one after the source that gives the key is not looked at", async () => {
    const k = token();
    const twoSids = `Cookie: sid=${token()}; sid=${token()}`;
    const fiveSids = `Cookie: ${[1, 2, 3, 4, 5].map(() => `sid=${token()}`).join("; ")}`;
    assert.deepEqual(await h1("/two/x", [`X-Api-Key: ${k}`, fiveSids]), { status: 200, reached: true });
    // The header gave the key, so the cookie's buckets were not touched: they still have a token.
    assert.deepEqual(await h1("/two/x", [twoSids]), { status: 200, reached: true });
    const empty = await h1("/two/x", ["X-Api-Key:", twoSids]);
    assert.deepEqual(
      empty,
      { status: 429, reached: false },
      `an empty header line gives no key: the cookie's spent buckets count (${seedNote(SEED)})`,
    );
    const r = await h1("/two/x", [fiveSids]);
    assert.deepEqual(r, { status: 400, reached: false }, "no header: five values of the cookie are refused");
  });

  it("keeps the join rule on a route without a rate limit", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await h1("/open/x", ["X-Api-Key: a", "X-Api-Key: b"]);
      assert.deepEqual(r, { status: 200, reached: true });
    }
  });

  it("counts a cookie named twice in every value's bucket; HTTP/2 cookie crumbs stay one key", async () => {
    const wrong: string[] = [];
    const expect = (name: string, r: { status: number; reached: boolean }, status: number): void => {
      if (r.status !== status || r.reached !== (status === 200))
        wrong.push(`${name}: ${r.status}, member reached: ${r.reached}; expected ${status}`);
    };
    // A browser holding sid set on "/" and on "/app" sends both values (longest path first): the
    // request is admitted, and each value's bucket pays for it.
    const [a, b] = [token(), token()];
    expect("one line sid=a; sid=b", await h1("/c/x", [`Cookie: x=1; sid=${a}; sid=${b}`]), 200);
    expect("then sid=a once", await h1("/c/x", [`Cookie: sid=${a}`]), 429);
    expect("then sid=b once", await h1("/c/x", [`Cookie: sid=${b}`]), 429);
    // A spent value is not escaped by adding a fresh one before or after it, whichever value the
    // member reads (Go the first, Django the last).
    expect("fresh; spent", await h1("/c/x", [`Cookie: sid=${token()}; sid=${a}`]), 429);
    expect("spent; fresh", await h1("/c/x", [`Cookie: sid=${b}; sid=${token()}`]), 429);
    const [c, d] = [token(), token()];
    expect("two lines sid=c / sid=d", await h1("/c/x", [`Cookie: sid=${c}`, `Cookie: sid=${d}`]), 200);
    expect("then sid=d once", await h1("/c/x", [`Cookie: sid=${d}`]), 429);
    const [e, f] = [token(), token()];
    expect("quoted and bare differ", await h1("/c/x", [`Cookie: sid="${e}"; sid=${f}`]), 200);
    expect("then sid=e once", await h1("/c/x", [`Cookie: sid=${e}`]), 429);
    const [g, h] = [token(), token()];
    const crumbs: [string, string][] = [
      ["cookie", `sid=${g}`],
      ["cookie", "x=1"],
      ["cookie", `sid=${h}`],
    ];
    expect("HTTP/2 crumbs sid=g / sid=h", await h2("/c/x", crumbs), 200);
    expect("then sid=h on HTTP/1.1", await h1("/c/x", [`Cookie: sid=${h}`]), 429);
    // More values than any browser sends are refused before Redis is asked.
    const five = [1, 2, 3, 4, 5].map(() => `sid=${token()}`).join("; ");
    expect("five values", await h1("/c/x", [`Cookie: ${five}`]), 400);
    // The same name and value twice reads alike everywhere: one key, counted once.
    const i = token();
    expect("sid=i twice", await h1("/c/x", [`Cookie: sid=${i}; sid="${i}"`]), 200);
    expect("then sid=i once", await h1("/c/x", [`Cookie: sid=${i}`]), 429);
    // Crumbs (RFC 9113 8.2.3) are one list: the pair in its own field is the key.
    const j = token();
    expect(
      "HTTP/2 crumbs with sid=j",
      await h2("/c/x", [
        ["cookie", "x=1"],
        ["cookie", `sid=${j}`],
        ["cookie", "y=2"],
      ]),
      200,
    );
    expect("then sid=j on one HTTP/1.1 line", await h1("/c/x", [`Cookie: x=1; sid=${j}`]), 429);
    assert.deepEqual(wrong, [], `${wrong.length} cookie spellings answered wrongly (${seedNote(SEED)})`);
  });

  it("reads a header:cookie key as one list: HTTP/2 cookie crumbs are not repeated lines", async () => {
    const sid = token();
    const crumbs: [string, string][] = [
      ["cookie", `sid=${sid}`],
      ["cookie", "x=1"],
    ];
    assert.deepEqual(await h2("/hc/x", crumbs), { status: 200, reached: true }, "crumbs admitted");
    // The crumbs' key is their "; " join, the one line an HTTP/1.1 client sends: already spent.
    const line = await h1("/hc/x", [`Cookie: sid=${sid}; x=1`]);
    assert.deepEqual(line, { status: 429, reached: false }, "then limited as one key");
  });

  it("refuses a query parameter named twice with different values", async () => {
    const a = token();
    const b = token();
    const wrong: string[] = [];
    const expect = (target: string, r: { status: number; reached: boolean }, status: number): void => {
      if (r.status !== status || r.reached !== (status === 200))
        wrong.push(`${target}: ${r.status}, member reached: ${r.reached}; expected ${status}`);
    };
    for (const target of [
      `/q/x?k=${a}&k=${b}`,
      `/q/x?k&k=${a}`,
      `/q/x?k=${a}&k=`,
      `/q/x?k=${a}&%6B=${b}`,
      `/q/x?k=${a}&z=1&k+=2&k=${b}`,
    ])
      expect(target, await h1(target, []), 400);
    // The same value, however it is spelled, is one key: admitted once, then limited.
    expect(
      `/q/x?k=${a}&k=%${a.charCodeAt(0).toString(16)}${a.slice(1)}`,
      await h1(`/q/x?k=${a}&k=%${a.charCodeAt(0).toString(16)}${a.slice(1)}`, []),
      200,
    );
    expect(`/q/x?k=${a}`, await h1(`/q/x?k=${a}`, []), 429);
    expect(`/q/x?kk=1&k=${b}&xk=2`, await h1(`/q/x?kk=1&k=${b}&xk=2`, []), 200);
    assert.deepEqual(wrong, [], `${wrong.length} query spellings answered wrongly (${seedNote(SEED)})`);
  });
});
