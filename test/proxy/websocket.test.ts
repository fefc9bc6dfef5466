// WebSocket upgrades are routed by the same key as plain requests and then piped both ways.

import assert from "node:assert/strict";
import { test } from "node:test";
import { WebSocket } from "ws";
import { randomKeys } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";
import { eventuallyTrue } from "../support/wait.js";
import { defaultConfig, send, startHarness } from "./harness.js";

function wsRoundTrip(port: number, key: string, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket`, { headers: { "x-user-id": key } });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("websocket round trip timed out"));
    }, 3000);
    ws.on("open", () => ws.send(message));
    ws.on("message", (data) => {
      clearTimeout(timer);
      ws.close();
      resolve(data.toString());
    });
    ws.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

test("a websocket with key K reaches the member plain requests with K reach", async (t) => {
  const h = await startHarness({ members: 3 });
  t.after(() => h.close());
  const seed = testSeed(77);
  const members = new Set<string>();
  for (const key of randomKeys(seed, 8)) {
    const http = await send(h.port, { headers: { "x-user-id": key } });
    const echoed = await wsRoundTrip(h.port, key, `hello-${key}`);
    const [member, text] = echoed.split(/:(.*)/s);
    assert.equal(member, http.json().member, `${seedNote(seed)} key ${key}`);
    assert.equal(text, `hello-${key}`);
    members.add(member);
  }
  assert.ok(members.size >= 2, `${seedNote(seed)}: websockets all went to ${[...members]}`);
  assert.ok(
    await eventuallyTrue(() => h.plane.inFlight() === 0),
    "closed websockets leave no in-flight record",
  );
  assert.ok(h.rec.ends.some((e) => e.upgrade && e.status === 101));
});

test("a websocket to a pool with no available member gets an HTTP 503 JSON error", async (t) => {
  const h = await startHarness({ members: 1 });
  t.after(() => h.close());
  h.setFlags({ users: { [h.upstreams[0].id]: { healthy: false } } });
  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${h.port}/`, { headers: { "x-user-id": "k" } });
    ws.on("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on("open", () => reject(new Error("upgrade should have been refused")));
    ws.on("error", () => {});
  });
  assert.equal(status, 503);
});

test("a non-websocket upgrade offer with a body (not framed by the parser) gets 400 bad_request, not a silent close", async (t) => {
  const h = await startHarness({ members: 1 });
  t.after(() => h.close());
  const { connect } = await import("node:net");
  const reply = await new Promise<string>((resolve) => {
    const s = connect(h.port, "127.0.0.1");
    let got = "";
    s.on("data", (d) => {
      got += d.toString();
    });
    s.on("close", () => resolve(got));
    s.on("error", () => {});
    s.write(
      "POST / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
        "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 2\r\n\r\nhi",
    );
    setTimeout(() => s.destroy(), 2000).unref();
  });
  assert.match(reply, /^HTTP\/1\.1 400 /);
  assert.match(reply, /"error":"bad_request"/);
});

test("an upgrade the upstream never answers: a client that leaves ends it at once (499), else the response timeout does (504)", async (t) => {
  const h = await startHarness({
    members: 1,
    config: (members) => ({
      ...defaultConfig(members),
      pools: { users: { members, timeouts: { response: "300ms" } } },
    }),
  });
  t.after(() => h.close());
  const u = h.upstreams[0];
  u.mode = { kind: "stallUpgrade" };
  const ws = new WebSocket(`ws://127.0.0.1:${h.port}/`, { headers: { "x-user-id": "k" } });
  ws.on("error", () => {});
  assert.ok(await eventuallyTrue(() => u.requests > 0), "the upgrade reached the upstream");
  ws.terminate();
  assert.ok(
    await eventuallyTrue(() => u.openConnections() === 0 && h.plane.inFlight() === 0, 3000),
    `upstream connections ${u.openConnections()}, in flight ${h.plane.inFlight()}`,
  );
  assert.equal(h.rec.ends.at(-1)?.status, 499, "the client left first: its departure ended the record");
  const ws2 = new WebSocket(`ws://127.0.0.1:${h.port}/`, { headers: { "x-user-id": "k" } });
  const refused = new Promise<number>((r) => {
    ws2.on("unexpected-response", (_req, res) => r(res.statusCode ?? 0));
    ws2.on("error", () => r(0));
  });
  assert.equal(await refused, 504);
  assert.ok(await eventuallyTrue(() => u.openConnections() === 0 && h.plane.inFlight() === 0, 3000));
  assert.equal(h.rec.ends.at(-1)?.errorCode, "upstream_timeout");
});
