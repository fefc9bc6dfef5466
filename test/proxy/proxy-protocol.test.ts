// PROXY protocol v1/v2 on the listener, over real sockets: the header's client becomes the
// `ip` key and the X-Forwarded-For entry; untrusted peers, malformed, truncated, oversized
// and wrong-signature headers are refused (closed and counted) without touching the proxy.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { SILENT_LOG } from "../../config/log-sink.js";
import { CidrMatcher, type TrustedList } from "../../proxy/routing/cidr-match.js";
import { createProxyServer } from "../../proxy/server/proxy-server.js";
import { rawExchange, rawSession } from "../support/raw-socket.js";
import { type Harness, planeOverUpstreams, startHarness } from "./harness.js";

function v1(src: string, sport = 40000): string {
  const fam = src.includes(":") ? "TCP6" : "TCP4";
  const dst = src.includes(":") ? "::1" : "127.0.0.1";
  return `PROXY ${fam} ${src} ${dst} ${sport} 8080\r\n`;
}

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function v2v4(src: number[], sport: number, tlv = Buffer.alloc(0), cmd = 0x21): Buffer {
  const body = Buffer.concat([Buffer.from([...src, 127, 0, 0, 1, sport >> 8, sport & 255, 0x1f, 0x90]), tlv]);
  const head = Buffer.from([cmd, 0x11, body.length >> 8, body.length & 255]);
  return Buffer.concat([SIG, head, body]);
}

function v2v6(src: number[], sport: number): Buffer {
  const body = Buffer.alloc(36);
  Buffer.from(src).copy(body, 0);
  body[31] = 1;
  body.writeUInt16BE(sport, 32);
  body.writeUInt16BE(8080, 34);
  return Buffer.concat([SIG, Buffer.from([0x21, 0x21, 0, 36]), body]);
}

function get(id: string): string {
  return `GET /pp/${id} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`;
}

/** The echoed request of a raw exchange's reply, or undefined when the connection was refused. */
function echoed(reply: string): { headers: Record<string, string> } | undefined {
  if (!reply.startsWith("HTTP/1.1 200")) return undefined;
  // The echo answers chunked: its one JSON chunk lies between the first "{" and the last "}".
  return JSON.parse(reply.slice(reply.indexOf("{"), reply.lastIndexOf("}") + 1));
}

function trustedLoopback(): TrustedList {
  return new CidrMatcher([{ address: "127.0.0.0", prefix: 8, family: "ipv4" }]);
}

/** `headersMs`: listen.timeouts.headers, which also bounds the wait for a whole PROXY header. */
async function harness(trusted: TrustedList, codes: string[], headersMs?: number): Promise<Harness> {
  return startHarness({
    proxyProtocol: trusted,
    onClientError: (c) => codes.push(c),
    listen: headersMs === undefined ? undefined : { headers: headersMs },
    config: (members) => ({
      pools: { users: { algorithm: "ring", members } },
      routes: [{ pool: "users", key: ["ip"] }],
    }),
  });
}

test("PROXY v1 and v2 from a trusted peer set the client address for X-Forwarded-For and the ip key", async (t) => {
  const codes: string[] = [];
  const h = await harness(trustedLoopback(), codes);
  t.after(() => h.close());
  const cases: Array<[string, Buffer | string, string]> = [
    ["v1-4", v1("203.0.113.7"), "203.0.113.7"],
    ["v1-6", v1("2001:db8::5"), "2001:db8::5"],
    // Any spelling of one address is one client: canonical text (RFC 5952), v4-mapped unmapped.
    ["v1-6-upper", v1("2001:DB8:0:0::5"), "2001:db8::5"],
    ["v1-6-mapped", v1("::ffff:203.0.113.7"), "203.0.113.7"],
    ["v2-4", v2v4([198, 51, 100, 9], 5555), "198.51.100.9"],
    ["v2-4-tlv", v2v4([198, 51, 100, 9], 5556, Buffer.from([0x04, 0, 3, 1, 2, 3])), "198.51.100.9"],
    ["v2-6", v2v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42], 6000), "2001:db8::42"],
    ["v2-6-mapped", v2v6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 9], 5557), "198.51.100.9"],
    // LOCAL (the balancer's own health check): the connection's real peer stands.
    ["v2-local", v2v4([10, 0, 0, 1], 1, Buffer.alloc(0), 0x20), "127.0.0.1"],
    ["v1-unknown", "PROXY UNKNOWN\r\n", "127.0.0.1"],
  ];
  for (const [id, header, client] of cases) {
    // Header and request in one write, as balancers send them.
    const reply = await rawExchange(
      h.port,
      Buffer.concat([Buffer.from(header), Buffer.from(get(id))]),
      10_000,
    );
    const e = echoed(reply);
    assert.ok(e, `${id}: expected 200, got ${JSON.stringify(reply.slice(0, 80))}`);
    assert.equal(e.headers["x-forwarded-for"], client, id);
  }
  // Header in its own write, split mid-way, then the request.
  const s = connect(h.port, "127.0.0.1");
  await new Promise((r) => s.once("connect", r));
  const hdr = v2v4([192, 0, 2, 33], 7000);
  s.write(hdr.subarray(0, 7));
  await new Promise((r) => setTimeout(r, 50));
  s.write(hdr.subarray(7));
  s.write(get("split"));
  let text = "";
  s.on("data", (d) => {
    text += d.toString("latin1");
  });
  await new Promise((r) => s.once("close", r));
  assert.equal(echoed(text)?.headers["x-forwarded-for"], "192.0.2.33");
  // The ip key follows the header's client, not the balancer's address.
  const hashes = h.rec.ends.filter((r) => r.path.startsWith("/pp/")).map((r) => [r.path, r.keyHash] as const);
  const byPath = new Map(hashes);
  assert.equal(byPath.get("/pp/v2-4"), byPath.get("/pp/v2-4-tlv"));
  assert.notEqual(byPath.get("/pp/v2-4"), byPath.get("/pp/v1-4"));
  assert.equal(byPath.get("/pp/v1-6-upper"), byPath.get("/pp/v1-6"));
  assert.equal(byPath.get("/pp/v1-6-mapped"), byPath.get("/pp/v1-4"));
  assert.equal(byPath.get("/pp/v2-6-mapped"), byPath.get("/pp/v2-4"));
  assert.equal(byPath.get("/pp/v2-local"), byPath.get("/pp/v1-unknown"));
  assert.deepEqual(codes, []);
});

test("PROXY headers are refused from untrusted peers and when malformed, truncated, oversized or mis-signed", async (t) => {
  const codes: string[] = [];
  // The truncated header below waits out the header timeout: 1 s instead of the default 10 s
  // (the refusal is the same; the malformed ones are refused on their bytes, before it).
  const h = await harness(trustedLoopback(), codes, 1_000);
  t.after(() => h.close());
  const long = `PROXY TCP4 ${"1".repeat(120)}\r\n`;
  const oversizedV2 = Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff]), Buffer.alloc(64)]);
  const bad: Array<[string, Buffer | string]> = [
    ["no header at all", get("plain")],
    [
      "wrong v2 signature",
      Buffer.concat([
        Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0b]),
        Buffer.alloc(16),
      ]),
    ],
    ["v1 bad address", `PROXY TCP4 300.1.1.1 127.0.0.1 1 2\r\n${get("x")}`],
    ["v1 family mismatch", `PROXY TCP4 ::1 127.0.0.1 1 2\r\n${get("x")}`],
    ["v1 bad port", `PROXY TCP4 1.2.3.4 127.0.0.1 65536 2\r\n${get("x")}`],
    ["v1 too few fields", `PROXY TCP4 1.2.3.4 127.0.0.1 1\r\n${get("x")}`],
    ["v1 oversized", long],
    ["v2 oversized", oversizedV2],
    ["v2 wrong version", Buffer.concat([SIG, Buffer.from([0x11, 0x11, 0, 12]), Buffer.alloc(12)])],
    ["v2 length below address size", Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 4]), Buffer.alloc(4)])],
  ];
  for (const [what, payload] of bad) {
    const before = codes.length;
    const reply = await rawExchange(h.port, payload, 10_000);
    assert.equal(reply, "", `${what}: refused without an answer`);
    assert.equal(codes.length, before + 1, `${what}: counted once`);
    assert.equal(codes[codes.length - 1], "proxy_protocol_malformed", what);
  }
  // Truncated header and a SILENT_LOG client: refused at the header timeout, not held forever.
  const truncated = await rawExchange(h.port, v2v4([1, 2, 3, 4], 1).subarray(0, 20), 30_000);
  assert.equal(truncated, "");
  assert.equal(codes[codes.length - 1], "proxy_protocol_timeout");
  assert.equal(h.rec.ends.length, 0, "no refused connection reached the data plane");

  // A listener that trusts nobody on loopback refuses even a well-formed header.
  const other = new CidrMatcher([{ address: "10.0.0.0", prefix: 8, family: "ipv4" }]);
  const codes2: string[] = [];
  const h2 = await harness(other, codes2);
  t.after(() => h2.close());
  const reply = await rawExchange(
    h2.port,
    Buffer.concat([Buffer.from(v1("203.0.113.7")), Buffer.from(get("u"))]),
    10_000,
  );
  assert.equal(reply, "");
  assert.deepEqual(codes2, ["proxy_protocol_untrusted"]);
  assert.equal(h2.rec.ends.length, 0);
});

test("PROXY header before a TLS handshake: the TLS connection sees the header's client", async (t) => {
  const fixture = (name: string) =>
    readFileSync(new URL(`../../../test/proxy/fixtures/${name}`, import.meta.url));
  const { config, plane } = await planeOverUpstreams(t, 1);
  const cert = fixture("test-cert.pem");
  const server = createProxyServer({
    dataPlane: plane,
    logger: SILENT_LOG,
    listen: { timeouts: config.listen.timeouts, maxHeaderSize: config.listen.maxHeaderSize },
    tls: { cert, key: fixture("test-key.pem") },
    proxyProtocol: { trusted: trustedLoopback() },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  t.after(() => {
    server.closeAllConnections();
    server.close();
    plane.close();
  });
  const port = (server.address() as { port: number }).port;
  const raw = connect(port, "127.0.0.1");
  await new Promise((r) => raw.once("connect", r));
  raw.write(v2v4([203, 0, 113, 50], 4444));
  const secure = tlsConnect({ socket: raw, ca: cert, servername: undefined, rejectUnauthorized: false });
  let text = "";
  secure.on("data", (d) => {
    text += d.toString("latin1");
  });
  secure.write(get("tls"));
  await new Promise((r) => secure.once("close", r));
  const e = echoed(text);
  assert.equal(e?.headers["x-forwarded-for"], "203.0.113.50");
  assert.equal(e?.headers["x-forwarded-proto"], "https");
});

test("the headers timeout is one budget from accept: a PROXY header sent late leaves the rest of it, not a fresh one", async (t) => {
  const headersMs = 1000;
  const h = await startHarness({
    proxyProtocol: trustedLoopback(),
    listen: { headers: headersMs, request: 2 * headersMs },
    config: (members) => ({
      pools: { users: { algorithm: "ring", members } },
      routes: [{ pool: "users", key: ["ip"] }],
    }),
  });
  t.after(() => h.close());
  const lateMs = 0.8 * headersMs;
  const started = performance.now();
  const { reply } = await rawSession(h.port, 4 * headersMs, (s) => {
    setTimeout(() => s.write(v1("203.0.113.9")), lateMs);
  });
  const waited = performance.now() - started;
  assert.match(reply, /^HTTP\/1\.1 408 /);
  // One budget: about headersMs. A fresh budget after the header: lateMs + headersMs or more.
  assert.ok(waited < lateMs + 0.7 * headersMs, `answered after ${Math.round(waited)} ms`);
});
