// HTTP/1.1 absolute-form request targets (`GET http://host/p?q HTTP/1.1`), tried from the outside:
// raw sockets on loopback, a real shardgate process, echo members that report the request line
// and headers they received. RFC 9112 section 3.2.2: a server MUST accept the absolute form, and
// (section 7.2) its authority, not the Host header, names the host. shardgate answered every one
// 400 bad_request. Now each is routed, keyed and forwarded as the origin form `/p?q` with a Host
// equal to the target's authority would be: same route (host-matched routes included), same
// member for path, query and header:host keys as the origin form and as /admin/route name, and
// the member receives the origin form with that Host (and X-Forwarded-Host). What must still be
// refused is, with the same codes: authority-form and asterisk-form targets (but `OPTIONS *`:
// test/outside/server-options.test.ts), other schemes, userinfo, an empty host.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { rawSession } from "../support/raw-socket.js";
import { fetchJson, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoBody, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const SEED = testSeed(4242);

let upstreams: EchoUpstream[] = [];
let sg: RunningShardgate;
let port = 0;

function yaml(): string {
  const list = upstreams.map((u) => `      - { id: ${u.id}, address: "127.0.0.1:${u.port}" }`).join("\n");
  const route = (match: string, key: string): string =>
    `  - { match: { ${match} }, pool: users, key: [${key}], onMissingKey: reject }\n`;
  return `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
admin:
  token: ""
log:
  level: info
  accessLog: false
pools:
  users:
    algorithm: ring
    members:
${list}
routes:
${route('host: "shop.test", pathPrefix: /only-shop/', "path:2")}${route("pathPrefix: /p/", "path:2")}${route("pathPrefix: /hh/", "header:host")}${route("pathPrefix: /", "query:user")}`;
}

interface Answer {
  status: number;
  head: string;
  body: string;
}

/** One request on its own connection (`Connection: close` is added, so the answer ends at the close). */
async function ask(requestLine: string, fields: string[]): Promise<Answer> {
  const bytes = `${requestLine}\r\n${[...fields, "Connection: close"].join("\r\n")}\r\n\r\n`;
  const r = await rawSession(port, 15_000, (s) => s.write(bytes, "latin1"));
  const split = r.reply.indexOf("\r\n\r\n");
  const head = split < 0 ? r.reply : r.reply.slice(0, split);
  let body = split < 0 ? "" : r.reply.slice(split + 4);
  if (/\r\ntransfer-encoding: chunked/i.test(head)) body = unchunk(body);
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? -1), head, body };
}

function unchunk(s: string): string {
  let out = "";
  let i = 0;
  for (;;) {
    const eol = s.indexOf("\r\n", i);
    if (eol < 0) return out;
    const size = Number.parseInt(s.slice(i, eol), 16);
    if (!(size > 0)) return out;
    out += s.slice(eol + 2, eol + 2 + size);
    i = eol + 4 + size;
  }
}

function echoOf(a: Answer, what: string): EchoBody {
  assert.equal(a.status, 200, `${what}: ${JSON.stringify(a.head.slice(0, 80))} ${a.body.slice(0, 200)}`);
  return JSON.parse(a.body) as EchoBody;
}

async function ownerOf(key: string): Promise<string> {
  const r = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${encodeURIComponent(key)}`);
  assert.equal(r.status, 200, `/admin/route ${key}: ${r.text}`);
  return String((r.body as { member: unknown }).member);
}

/** Keys of 1-12 characters that need no escape in a path or a query. */
function keys(n: number): string[] {
  const random = seededRandom(SEED);
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~";
  return Array.from({ length: n }, () => {
    let k = "";
    const len = 1 + Math.floor(random() * 12);
    for (let i = 0; i < len; i++) k += alphabet[Math.floor(random() * alphabet.length)];
    return k;
  });
}

describe(`absolute-form request targets (${seedNote(SEED)})`, { timeout: 300_000 }, () => {
  before(async () => {
    upstreams = await startUpstreams(4);
    sg = await startShardgate(yaml());
    port = Number(/(\d+)$/.exec(sg.httpUrl)?.[1]);
  });
  after(async () => {
    await stopAll();
    await closeAll(upstreams);
  });

  it("routes, keys and forwards an absolute-form target as its origin form with the authority as Host", async () => {
    for (const key of keys(24)) {
      // The target's authority wins over a Host naming another host (RFC 9112 section 7.2).
      for (const [target, origin, authority] of [
        [`http://shop.test/p/${key}?x=1`, `/p/${key}?x=1`, "shop.test"],
        [`HTTP://Shop.Test:8080/p/${key}`, `/p/${key}`, "Shop.Test:8080"],
        [`https://[2001:db8::1]/p/${key}/tail`, `/p/${key}/tail`, "[2001:db8::1]"],
        [`http://shop.test/q?user=${key}`, `/q?user=${key}`, "shop.test"],
        [`http://shop.test?user=${key}`, `/?user=${key}`, "shop.test"],
      ]) {
        const what = `GET ${target} (${seedNote(SEED)})`;
        const absolute = echoOf(await ask(`GET ${target} HTTP/1.1`, ["Host: other.test"]), what);
        const originForm = echoOf(await ask(`GET ${origin} HTTP/1.1`, [`Host: ${authority}`]), origin);
        assert.equal(absolute.path, origin, `${what}: the member got this request-target`);
        assert.equal(absolute.headers.host, authority, `${what}: Host upstream`);
        assert.equal(absolute.headers["x-forwarded-host"], authority, `${what}: X-Forwarded-Host`);
        assert.equal(absolute.member, originForm.member, `${what}: member vs the origin form`);
        assert.equal(absolute.member, await ownerOf(key), `${what}: member vs /admin/route`);
      }
    }
  });

  it("matches host routes and header:host keys on the target's authority, on HTTP/1.0 without a Host too", async () => {
    // Only the authority names shop.test: the host-matched route serves it (else query:user, 400).
    const shop = echoOf(
      await ask("GET http://shop.test/only-shop/k1 HTTP/1.1", ["Host: other.test"]),
      "host route",
    );
    assert.equal(shop.member, await ownerOf("k1"));
    const missing = await ask("GET /only-shop/k1 HTTP/1.1", ["Host: other.test"]);
    assert.equal(missing.status, 400, "the origin form with the other Host is another route");
    for (const host of ["a.test", "b.test", "c.test", "d.test", "e.test", "f.test"]) {
      const abs = echoOf(await ask(`GET http://${host}/hh/x HTTP/1.0`, []), `HTTP/1.0 ${host}`);
      assert.equal(abs.headers.host, host);
      assert.equal(abs.member, await ownerOf(host), `header:host key ${host}`);
    }
  });

  it("still refuses authority-form, asterisk-form, other schemes, userinfo and an empty host", async () => {
    const refused: Array<[string, string]> = [
      ["GET shop.test:80 HTTP/1.1", "bad_request"],
      ["GET * HTTP/1.1", "bad_request"],
      ["GET ftp://shop.test/p/k HTTP/1.1", "bad_request"],
      ["GET http:/shop.test/p/k HTTP/1.1", "bad_request"],
      ["GET http://user@shop.test/p/k HTTP/1.1", "bad_request"],
      ["GET http:///p/k HTTP/1.1", "invalid_host"],
      ["GET http://:80/p/k HTTP/1.1", "invalid_host"],
    ];
    const before = upstreams.reduce((n, u) => n + u.requests - u.healthProbes, 0);
    for (const [line, code] of refused) {
      const a = await ask(line, ["Host: shop.test", "X-User-Id: k"]);
      assert.equal(a.status, 400, `${line}: ${a.head.slice(0, 80)}`);
      assert.match(a.body, new RegExp(`"error":"${code}"`), `${line}: ${a.body}`);
    }
    assert.equal(
      upstreams.reduce((n, u) => n + u.requests - u.healthProbes, 0),
      before,
      "nothing refused reached a member",
    );
  });
});
