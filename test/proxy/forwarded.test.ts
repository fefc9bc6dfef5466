// RFC 7239 Forwarded: parsed from trusted proxies for the `ip` key, written to upstreams
// next to X-Forwarded-*; an untrusted client's Forwarded is replaced, never believed.

import assert from "node:assert/strict";
import { test } from "node:test";
import { forwardedProtoScheme, forwardedScheme } from "../../proxy/forward/told-scheme.js";
import { addressPart } from "../../proxy/routing/address-text.js";
import { CidrMatcher } from "../../proxy/routing/cidr-match.js";
import { forwardedElement, forwardedFor } from "../../proxy/routing/forwarded.js";
import { hashKey } from "../../ring/hash.js";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";
import { send, startHarness } from "./harness.js";

/** The test's trustedProxies: the 10.0.0.0/8 hops. */
const TEN = new CidrMatcher([{ address: "10.0.0.0", prefix: 8, family: "ipv4" }]);

test("forwardedProtoScheme reads the trusted proxies' left-most proto= pair, never one inside a quoted value", () => {
  const cases: Array<[string, string]> = [
    ["for=192.0.2.7;proto=https", "https"],
    ["Proto=HTTPS;for=192.0.2.7", "https"],
    ['for=192.0.2.7;proto="https"', "https"],
    ["for=192.0.2.7;proto=https, for=10.0.0.1", "https"],
    ['for=192.0.2.7;proto=https, For="10.0.0.1:4711";proto=http', "https"],
    ["for=192.0.2.7;proto=https,, for=10.0.0.1;proto=http,", "https"],
    ["for=192.0.2.7 ; proto=wss", "wss"],
    ['for="_x;proto=https"', ""],
    ['host="a,proto=https";for=192.0.2.7', ""],
    ['for="_unterminated;proto=https', ""],
    ["for=192.0.2.7;xproto=https", ""],
    ["for=192.0.2.7;proto=h{t}tp, for=10.0.0.1;proto=https", ""],
    ["for=192.0.2.7;proto=", ""],
    ["", ""],
    // A client's own elements, passed on in front of the one an appending proxy wrote about it
    // (the element before a for= that is not a trusted hop, or that has no for=), say nothing.
    ["proto=https, for=198.51.100.7;proto=http", "http"],
    ["for=10.0.0.9;proto=https, for=198.51.100.7;proto=http", "http"],
    ["for=192.0.2.7;proto=https, for=198.51.100.1;proto=https, for=10.0.0.1;proto=http", "https"],
    ["proto=https, proto=http", "http"],
    ["proto=https, for=198.51.100.7", ""],
    ['proto=https, for="unknown";proto=http', "http"],
    // Malformed (forwardedFor's rule): ignored whole, as for the ip key.
    ["for=192.0.2.7 x=1;proto=https", ""],
    ['proto=https;for="192.0.2.7', ""],
  ];
  for (const [header, scheme] of cases) assert.equal(forwardedProtoScheme(header, TEN), scheme, header);
  // Seeded mixes of the grammar's pieces: a header forwardedFor refuses names no scheme, and one it
  // reads names what a slow reading says: its elements (commas outside quoted strings) from the
  // right, each one's first proto= taken, going on left while its for= is a trusted address.
  const unit = /"(?:[^"\\]|\\.)*"|[,;]|[^",;]+/g;
  const unquote = (v: string): string => (v.startsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, "$1") : v);
  const reference = (h: string): string => {
    if (forwardedFor(h) === undefined) return "";
    const elements: Array<Array<[string, string]>> = [[]];
    let pair = "";
    const endPair = (): void => {
      const eq = pair.indexOf("=");
      if (eq >= 0)
        elements[elements.length - 1].push([
          pair.slice(0, eq).trim().toLowerCase(),
          unquote(pair.slice(eq + 1).trim()),
        ]);
      pair = "";
    };
    for (const m of h.matchAll(unit)) {
      if (m[0] === ";" || m[0] === ",") endPair();
      else pair += m[0];
      if (m[0] === ",") elements.push([]);
    }
    endPair();
    let scheme = "";
    for (let k = elements.length - 1; k >= 0; k--) {
      const e = elements[k];
      if (e.length === 0) continue;
      const proto = e.find(([name]) => name === "proto");
      if (proto !== undefined) scheme = forwardedScheme(proto[1]);
      const nodes = e.filter(([name]) => name === "for");
      const node = nodes[nodes.length - 1];
      if (node === undefined || node[1] === "" || !TEN.has(addressPart(node[1]))) break;
    }
    return scheme;
  };
  const seed = testSeed(7239);
  const random = seededRandom(seed);
  const pieces = [
    "proto=",
    "Proto =",
    "for=",
    "https",
    "HTTP",
    "x",
    "10.0.0.1",
    "198.51.100.7",
    "{",
    '"',
    "\\",
    ";",
    ",",
    " ",
    "\t",
    "=",
  ];
  let named = 0;
  for (let i = 0; i < 50_000; i++) {
    let h = "";
    const len = Math.floor(random() * 12);
    for (let j = 0; j < len; j++) h += pick(random, pieces);
    const got = forwardedProtoScheme(h, TEN);
    assert.equal(got, reference(h), `${seedNote(seed)}: ${JSON.stringify(h)}`);
    if (got !== "") named++;
  }
  // The mixes reach the interesting case, not only refusals.
  assert.ok(named > 100, `${seedNote(seed)}: only ${named} mixes named a scheme`);
});

test("forwardedFor reads for= nodes and rejects malformed headers whole", () => {
  assert.deepEqual(forwardedFor("for=192.0.2.43"), ["192.0.2.43"]);
  assert.deepEqual(forwardedFor('for="[2001:db8:cafe::17]:4711"'), ["2001:db8:cafe::17"]);
  assert.deepEqual(forwardedFor("for=192.0.2.60;proto=http;by=203.0.113.43"), ["192.0.2.60"]);
  assert.deepEqual(forwardedFor("For=192.0.2.43, for=198.51.100.17"), ["192.0.2.43", "198.51.100.17"]);
  assert.deepEqual(forwardedFor('for=unknown, for="_hidden", proto=https'), ["unknown", "_hidden", ""]);
  assert.deepEqual(forwardedFor('for="192.0.2.1:8080" ; host="a\\"b"'), ["192.0.2.1"]);
  for (const bad of ['for="192.0.2.1', "for", "for=a b", "for=[::1]", "=x", "for=1;;x", "for=1 x=2"]) {
    assert.equal(forwardedFor(bad), undefined, bad);
  }
  // Round trip: what this hop writes, the next hop reads.
  assert.deepEqual(forwardedFor(forwardedElement("2001:db8::1", "h.example:8080", "https")), ["2001:db8::1"]);
  assert.deepEqual(forwardedFor(forwardedElement("192.0.2.7", 'x"y', "http")), ["192.0.2.7"]);
  // Fuzz-ish: random mixes of the grammar's characters never throw, and parse to an array or undefined.
  const seed = testSeed(7239);
  const random = seededRandom(seed);
  const alphabet = [
    "for=",
    "by=",
    "host=",
    '"',
    "\\",
    ";",
    ",",
    " ",
    "[",
    "]",
    ":",
    "1.2.3.4",
    "::1",
    "x",
    "=",
  ];
  for (let i = 0; i < 5000; i++) {
    let s = "";
    const len = Math.floor(random() * 12);
    for (let j = 0; j < len; j++) s += pick(random, alphabet);
    const r = forwardedFor(s);
    assert.ok(r === undefined || Array.isArray(r), `${seedNote(seed)}: ${JSON.stringify(s)}`);
  }
});

test("Forwarded from a trusted proxy sets the ip key and gets this hop's element appended", async (t) => {
  const h = await startHarness({
    config: (members) => ({
      pools: { users: { algorithm: "ring", members } },
      routes: [{ pool: "users", key: ["ip"], trustedProxies: ["127.0.0.1", "10.0.0.0/8"] }],
    }),
  });
  t.after(() => h.close());
  const incoming = 'for="[2001:db8::9]:4711";proto=https, for=10.1.2.3';
  const r = await send(h.port, {
    path: "/fw",
    headers: { forwarded: incoming, "x-forwarded-for": "198.51.100.99", host: "shop.example:8080" },
  });
  assert.equal(r.status, 200);
  const seen = r.json();
  // The trusted chain says https (its first proto=, with no X-Forwarded-Proto): so does this hop.
  assert.equal(seen.headers.forwarded, `${incoming}, for=127.0.0.1;host="shop.example:8080";proto=https`);
  assert.equal(seen.headers["x-forwarded-proto"], "https");
  // Forwarded wins over X-Forwarded-For; 10.1.2.3 is a trusted hop, so the client is the IPv6 node.
  const end = h.rec.ends.find((e) => e.path === "/fw");
  assert.equal(end?.keyHash, hashKey("2001:db8::9"));
  // A malformed Forwarded is not half-believed: X-Forwarded-For decides.
  await send(h.port, {
    path: "/fw2",
    headers: { forwarded: 'for="2001', "x-forwarded-for": "198.51.100.99" },
  });
  assert.equal(h.rec.ends.find((e) => e.path === "/fw2")?.keyHash, hashKey("198.51.100.99"));
});

test("a client's Forwarded passed on by an appending trusted proxy does not name the scheme", async (t) => {
  const h = await startHarness({
    config: (members) => ({
      pools: { users: { algorithm: "ring", members } },
      routes: [{ pool: "users", key: ["ip"], trustedProxies: ["127.0.0.1", "10.0.0.0/8"] }],
    }),
  });
  t.after(() => h.close());
  // A plain-HTTP client sent `Forwarded: proto=https`; the trusted proxy in front appended its
  // own element about it (nginx's $proxy_add_forwarded, OpenShift's router by default) and sent
  // no X-Forwarded-Proto. The member was told https in both fields.
  const cases: Array<[string, string]> = [
    ["proto=https, for=198.51.100.7;proto=http", "http"],
    ['for="_spoof";proto=https, proto=http', "http"],
    // A trusted hop's element vouches for the one before it: a TLS-terminating CDN at 10.1.2.3.
    ["for=198.51.100.7;proto=https, for=10.1.2.3;proto=http", "https"],
  ];
  for (const [i, [incoming, scheme]] of cases.entries()) {
    const r = await send(h.port, {
      path: `/spoof${i}`,
      headers: { forwarded: incoming, host: "shop.example" },
    });
    assert.equal(r.status, 200);
    const seen = r.json();
    assert.equal(seen.headers["x-forwarded-proto"], scheme, incoming);
    assert.equal(
      seen.headers.forwarded,
      `${incoming}, for=127.0.0.1;host=shop.example;proto=${scheme}`,
      incoming,
    );
  }
});

test("Forwarded from an untrusted client is replaced, and ignored for the ip key", async (t) => {
  const h = await startHarness({
    config: (members) => ({
      pools: { users: { algorithm: "ring", members } },
      routes: [{ pool: "users", key: ["ip"] }],
    }),
  });
  t.after(() => h.close());
  const r = await send(h.port, { path: "/u", headers: { forwarded: "for=6.6.6.6", host: "h" } });
  assert.equal(r.json().headers.forwarded, "for=127.0.0.1;host=h;proto=http");
  assert.equal(h.rec.ends.find((e) => e.path === "/u")?.keyHash, hashKey("127.0.0.1"));
});
