// The forwarded request's headers handed to undici as a flat list (proxy/forward/undici-request-head.ts):
// the list holds exactly the header object's own entries (undefined ones left out, a repeated
// header's array kept), and the object itself is handed over should Object.prototype enumerate
// something, so a key put there never becomes a request header. End to end the upstream sees the
// client's headers and shardgate's as before, with and without such a key.

import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http";
import { test } from "node:test";
import { requestHeaderList } from "../../proxy/forward/undici-request-head.js";
import { send, startHarness } from "./harness.js";

test("the list holds the header object's own entries, in order, arrays kept, undefined left out", () => {
  const headers: IncomingHttpHeaders = {
    host: "a.example",
    "x-user-id": "k",
    "set-cookie": ["a=1", "b=2"],
    "x-gone": undefined,
    "x-request-id": "rid",
  };
  assert.deepEqual(requestHeaderList(headers), [
    "host",
    "a.example",
    "x-user-id",
    "k",
    "set-cookie",
    ["a=1", "b=2"],
    "x-request-id",
    "rid",
  ]);
});

test("with something enumerable on Object.prototype the object itself is handed over", () => {
  const headers: IncomingHttpHeaders = { host: "a.example" };
  const proto = Object.prototype as Record<string, unknown>;
  proto.polluted = "x";
  try {
    assert.equal(requestHeaderList(headers), headers);
  } finally {
    delete proto.polluted;
  }
  assert.deepEqual(requestHeaderList(headers), ["host", "a.example"]);
});

test("end to end the upstream gets the client's headers and shardgate's, and no inherited key", async (t) => {
  const h = await startHarness({ members: 2 });
  t.after(() => h.close());
  const ask = async () => {
    const r = await send(h.port, {
      path: "/h",
      headers: { "x-user-id": "k1", "x-extra": "v", "x-request-id": "rid-list" },
    });
    assert.equal(r.status, 200, r.text);
    return r.json().headers as Record<string, string>;
  };
  const plain = await ask();
  assert.equal(plain["x-user-id"], "k1");
  assert.equal(plain["x-extra"], "v");
  assert.equal(plain["x-request-id"], "rid-list");
  assert.equal(plain["x-forwarded-proto"], "http");
  assert.match(plain["x-forwarded-for"], /127\.0\.0\.1/);
  const proto = Object.prototype as Record<string, unknown>;
  proto["x-inherited"] = "leak";
  let polluted: Record<string, string>;
  try {
    polluted = await ask();
  } finally {
    delete proto["x-inherited"];
  }
  assert.equal(Object.hasOwn(polluted, "x-inherited"), false, JSON.stringify(polluted));
  assert.equal(polluted["x-extra"], "v");
});
