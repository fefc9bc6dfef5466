// A trusted proxy's X-Forwarded-Proto that is a list, read by the header view (headers.ts
// upstreamHeaderView, what the shared cache keys on and the member is sent) and by the uncached
// path (setForwardedHeaders). A proxy that appends (nginx's and OpenShift's append modes) puts
// the client's own value first: a plain client that sent `https` arrives as `https, http`. Read
// by its first element, the member was told https alone and the key took https. A list whose
// elements disagree is now passed on as it came, names no scheme to key on (forwardedScheme ""),
// and this hop's Forwarded element names the connection's; one whose elements agree is one
// lower-case element, as before.

import assert from "node:assert/strict";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { test } from "node:test";
import { setForwardedHeaders, upstreamHeaderView } from "../../proxy/forward/headers.js";
import { forwardedScheme } from "../../proxy/forward/told-scheme.js";
import { CidrMatcher } from "../../proxy/routing/cidr-match.js";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";

/** The route's trustedProxies: the test's peer, 127.0.0.1, is one. */
const TRUSTED = new CidrMatcher([{ address: "127.0.0.0", prefix: 8, family: "ipv4" }]);

/** A plain-HTTP request from `peer` whose head is `headers` (names lower-case, as node parses them). */
function request(headers: Record<string, string>, peer = "127.0.0.1"): IncomingMessage {
  const rawHeaders = Object.entries(headers).flat();
  return {
    url: "/",
    headers: { ...headers },
    rawHeaders,
    socket: { remoteAddress: peer },
  } as unknown as IncomingMessage;
}

/** What the member is told and the cache keys on, as the header view has it. */
function viewOf(proto: string, peer?: string): { proto: unknown; forwarded: unknown; keyed: string } {
  const view = upstreamHeaderView(
    request({ host: "shop.test", "x-forwarded-proto": proto }, peer),
    TRUSTED,
    "r1",
  );
  return {
    proto: view["x-forwarded-proto"],
    forwarded: view.forwarded,
    keyed: forwardedScheme(view["x-forwarded-proto"]),
  };
}

test("a trusted X-Forwarded-Proto list whose elements disagree is passed on as it came, keyed on nothing", () => {
  for (const proto of [
    "https, http",
    "http, https",
    "https,http",
    "HTTPS, http",
    "https, https, http",
    "https, wss",
  ]) {
    const v = viewOf(proto);
    assert.equal(v.proto, proto, `passed on as it came: ${proto}`);
    assert.equal(v.keyed, "", `no scheme to key on: ${proto}`);
    assert.equal(
      v.forwarded,
      "for=127.0.0.1;host=shop.test;proto=http",
      `this hop's element names the connection's: ${proto}`,
    );
  }
});

test("a trusted X-Forwarded-Proto whose elements agree goes on as one lower-case element, keyed on it", () => {
  const cases: Array<[string, string]> = [
    ["https", "https"],
    ["http", "http"],
    [" HTTPS ", "https"],
    ["https, https", "https"],
    ["HTTPS,https ,\tHttps", "https"],
    ["http, http", "http"],
    ["wss", "wss"],
  ];
  for (const [proto, scheme] of cases) {
    const v = viewOf(proto);
    assert.equal(v.proto, scheme, proto);
    assert.equal(v.keyed, scheme, proto);
    assert.equal(v.forwarded, `for=127.0.0.1;host=shop.test;proto=${scheme}`, proto);
  }
});

test("an untrusted client's X-Forwarded-Proto list is replaced by this hop's scheme, whatever it says", () => {
  for (const proto of ["https, http", "https, https", "h{t}tp"]) {
    const v = viewOf(proto, "192.0.2.7");
    assert.equal(v.proto, "http", proto);
    assert.equal(v.keyed, "http", proto);
    assert.equal(v.forwarded, "for=192.0.2.7;host=shop.test;proto=http", proto);
  }
});

test("the uncached path writes what the header view holds", () => {
  for (const proto of ["https, http", "http, https", "https, https", " HTTPS ", "https", "h{t}tp"]) {
    const req = request({ host: "shop.test", "x-forwarded-proto": proto });
    const view = upstreamHeaderView(req, TRUSTED, "r1");
    setForwardedHeaders(req, TRUSTED);
    const sent: IncomingHttpHeaders = req.headers;
    assert.equal(sent["x-forwarded-proto"], view["x-forwarded-proto"], proto);
    assert.equal(sent.forwarded, view.forwarded, proto);
  }
});

test("forwardedScheme names a scheme only when every element of the list names that one", () => {
  // Seeded lists of the pieces a proxy chain or a client writes, against a slow reading: split at
  // commas, spaces and tabs around each element dropped, every element the first one's scheme.
  const seed = testSeed(72_391);
  const random = seededRandom(seed);
  const pieces = ["https", "HTTPS", "http", "Http", "wss", "h{t}tp", "", " ", "\t", ",", ", ", "s"];
  const reference = (text: string): string => {
    const elements = text.split(",").map((e) => e.replace(/^[ \t]+|[ \t]+$/g, "").toLowerCase());
    const first = elements[0];
    if (!/^[a-z][a-z0-9+.-]{0,15}$/.test(first)) return "";
    return elements.every((e) => e === first) ? first : "";
  };
  let named = 0;
  let lists = 0;
  for (let i = 0; i < 20_000; i++) {
    let text = "";
    const len = 1 + Math.floor(random() * 6);
    for (let j = 0; j < len; j++) text += pick(random, pieces);
    const got = forwardedScheme(text);
    assert.equal(got, reference(text), `${seedNote(seed)}: ${JSON.stringify(text)}`);
    if (got !== "" && text.includes(",")) lists++;
    if (got !== "") named++;
  }
  // The mixes reach agreeing lists, not only refusals and single elements.
  assert.ok(lists > 50 && named > 1000, `${seedNote(seed)}: ${named} named a scheme, ${lists} of them lists`);
});
