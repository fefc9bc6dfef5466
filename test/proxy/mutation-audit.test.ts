// Tests for the survivors of a mutation audit (issue 10, item 7): each pins down behaviour a
// planted bug changed without any other test noticing.

import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { test } from "node:test";
import { parseConfig } from "../../config/file/load.js";
import { checkAdminToken } from "../../proxy/admin/auth.js";
import { rawExchange } from "../support/raw-socket.js";
import { defaultConfig, send, startHarness } from "./harness.js";

test("a bodyless POST to a dead member gets 502 and is not retried (POST is not in retry.methods)", async (t) => {
  const h = await startHarness({ members: 2 });
  t.after(() => h.close());
  const owner = h.plane.explain("users", "post-key")?.owner;
  const dead = h.upstreams.find((u) => u.id === owner);
  assert.ok(dead);
  await dead.die();
  const r = await send(h.port, { method: "POST", headers: { "x-user-id": "post-key" } });
  assert.equal(r.status, 502, r.text);
  assert.equal(r.json().error, "upstream_connect_failed");
  assert.deepEqual(h.rec.retries, []);
  const other = h.upstreams.find((u) => u.id !== owner);
  assert.equal(other?.trafficRequests, 0, "the other member never saw it");
});

test("the headers timeout is measured: headers 200 ms with request 5 s cuts a stalled head within 1 s", async (t) => {
  const h = await startHarness({ members: 1, listen: { headers: 200, request: 5000 } });
  t.after(() => h.close());
  const started = performance.now();
  const reply = await rawExchange(h.port, "GET / HTTP/1.1\r\nHost: a\r\n", 6000);
  const took = performance.now() - started;
  assert.match(reply, /^HTTP\/1\.1 408 /);
  assert.ok(took < 1000, `cut after ${took.toFixed(0)} ms (request timeout 5 s, headers 200 ms)`);
});

test("admin token: a prefix of the token and the token plus a suffix are refused", () => {
  const token = "s3cr3t-admin-token";
  const ask = (presented: string) =>
    checkAdminToken({ headers: { authorization: `Bearer ${presented}` } } as never, token).ok;
  assert.equal(ask(token), true);
  assert.equal(ask(token.slice(0, -1)), false, "prefix");
  assert.equal(ask(`${token}x`), false, "suffix");
  assert.equal(ask(token.slice(1)), false, "missing first char");
});

test("X-Forwarded-Proto and X-Forwarded-Host from an untrusted peer are overwritten", async (t) => {
  const h = await startHarness({ members: 1 });
  t.after(() => h.close());
  const r = await send(h.port, {
    headers: {
      "x-user-id": "k",
      host: "real.example",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "spoofed.example",
    },
  });
  const seen = r.json().headers;
  assert.equal(seen["x-forwarded-proto"], "http");
  assert.equal(seen["x-forwarded-host"], "real.example");
});

test("an upstream that cuts the body mid-way ends the client's response promptly", async (t) => {
  const h = await startHarness({
    members: 1,
    config: (members) => ({
      ...defaultConfig(members),
      pools: { users: { members, timeouts: { response: "60s" } } },
    }),
  });
  t.after(() => h.close());
  h.upstreams[0].mode = { kind: "resetMidBody" };
  const started = performance.now();
  const outcome = await new Promise<string>((resolve) => {
    const req = httpRequest(
      { host: "127.0.0.1", port: h.port, path: "/", headers: { "x-user-id": "k" } },
      (res) => {
        res.on("data", () => {});
        res.on("error", () => resolve("error"));
        res.on("aborted", () => resolve("aborted"));
        res.on("end", () => resolve(res.complete ? "complete" : "incomplete"));
      },
    );
    req.on("error", () => resolve("error"));
    req.end();
  });
  const took = performance.now() - started;
  assert.notEqual(outcome, "complete", "the client must see a broken response");
  // The upstream resets 20 ms after its first bytes; 60 s is the only other bound in play.
  assert.ok(took < 3000, `ended after ${took.toFixed(0)} ms`);
});

test("a duplicate peer id in cluster.peers is a config error", () => {
  const r = parseConfig(
    `cluster:
  id: a
  secret: "0123456789abcdef0123"
  peers:
    - { id: a, address: "127.0.0.1:7001" }
    - { id: b, address: "127.0.0.1:7002" }
    - { id: a, address: "127.0.0.1:7003" }
pools: { p: { members: [{ id: m, address: "127.0.0.1:1" }] } }
routes: [{ pool: p, key: [ip] }]
`,
    {},
  );
  assert.equal(r.ok, false);
  assert.match(JSON.stringify(r.ok ? [] : r.errors), /cluster\.peers/);
});
