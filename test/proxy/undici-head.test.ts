// The undici engine's response head (proxy/forward/undici-head.ts) from raw upstream header
// pairs: hop-by-hop headers and those the upstream's Connection names stay on that hop,
// framing headers stay, repeats stay repeated, shardgate's own headers are added or replace
// the upstream's. End to end the same rules are covered by forward-basic and mutation-audit.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type HeadExtras, headerName, responseHead } from "../../proxy/forward/undici-head.js";

function raw(pairs: Array<[string, string]>): Buffer[] {
  return pairs.flatMap(([n, v]) => [Buffer.from(n, "latin1"), Buffer.from(v, "latin1")]);
}

const extras: HeadExtras = {
  requestId: "rid-1",
  memberHeader: "",
  member: "m1",
  ringVersionHeader: "",
  ringVersion: 7,
  issuedCookie: "",
  connection: "keep-alive",
};

function pairsOf(list: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i], list[i + 1]]);
  return out;
}

test("hop-by-hop and Connection-named headers are dropped, framing and repeats kept", () => {
  const head = responseHead(
    raw([
      ["Content-Type", "text/plain"],
      ["Connection", "keep-alive, X-Hop-Secret, content-length"],
      ["X-Hop-Secret", "s"],
      ["Keep-Alive", "timeout=5"],
      ["Transfer-Encoding", "chunked"],
      ["Proxy-Connection", "keep-alive"],
      ["Trailer", "x-t"],
      ["Upgrade", "h2c"],
      ["TE", "trailers"],
      ["Content-Length", "5"],
      ["Set-Cookie", "a=1"],
      ["Set-Cookie", "b=2"],
      ["Vary", "accept"],
      ["vary", "origin"],
    ]),
    extras,
  );
  assert.deepEqual(pairsOf(head), [
    ["content-type", "text/plain"],
    ["content-length", "5"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
    ["vary", "accept"],
    ["vary", "origin"],
    ["x-request-id", "rid-1"],
    ["connection", "keep-alive"],
  ]);
});

test("an upstream x-request-id is kept; member, ring version and cookie headers are shardgate's", () => {
  const head = responseHead(
    raw([
      ["X-Request-Id", "up-1"],
      ["X-Shardgate-Member", "forged"],
      ["Set-Cookie", "a=1"],
    ]),
    {
      ...extras,
      memberHeader: "x-shardgate-member",
      ringVersionHeader: "x-ring-version",
      issuedCookie: "sg=abc; Path=/",
      connection: "close",
    },
  );
  assert.deepEqual(pairsOf(head), [
    ["x-request-id", "up-1"],
    ["set-cookie", "a=1"],
    ["x-shardgate-member", "m1"],
    ["x-ring-version", "7"],
    ["set-cookie", "sg=abc; Path=/"],
    ["connection", "close"],
  ]);
});

test("header names are lowercased from bytes: known names interned, look-alikes and unknown names read as they are", () => {
  assert.equal(headerName(Buffer.from("CoNtEnT-TyPe")), "content-type");
  assert.equal(headerName(Buffer.from("DATE")), "date");
  // Same length as a known name, different bytes: not mistaken for it.
  assert.equal(headerName(Buffer.from("content_type")), "content_type");
  assert.equal(headerName(Buffer.from("X-Other-Name")), "x-other-name");
  assert.equal(headerName(Buffer.from("Xyz")), "xyz");
  assert.equal(
    headerName(Buffer.from("A-Very-Long-Header-Name-Beyond-The-Table")),
    "a-very-long-header-name-beyond-the-table",
  );
});

test("a padded or upper-case lone Connection token names no header; a list does", () => {
  const lone = responseHead(
    raw([
      ["Connection", "  KEEP-ALIVE\t"],
      ["Content-Length", "0"],
    ]),
    extras,
  );
  assert.deepEqual(pairsOf(lone), [
    ["content-length", "0"],
    ["x-request-id", "rid-1"],
    ["connection", "keep-alive"],
  ]);
  const named = responseHead(
    raw([
      ["Connection", "Close, X-Drop"],
      ["X-Drop", "1"],
      ["X-Keep", "2"],
    ]),
    extras,
  );
  assert.deepEqual(pairsOf(named), [
    ["x-keep", "2"],
    ["x-request-id", "rid-1"],
    ["connection", "keep-alive"],
  ]);
});

test("a list given to fill is emptied first and filled in place (the data plane reuses one)", () => {
  const reused = ["x-stale", "from the last head", "set-cookie", "old=1"];
  const head = responseHead(raw([["Content-Length", "2"]]), extras, reused);
  assert.equal(head, reused);
  assert.deepEqual(pairsOf(head), [
    ["content-length", "2"],
    ["x-request-id", "rid-1"],
    ["connection", "keep-alive"],
  ]);
});
