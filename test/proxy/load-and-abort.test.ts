// Bounded load spills a hot key's concurrent requests to successors; clients that abort
// mid-response do not leak upstream sockets (http-party/node-http-proxy#1586).

import assert from "node:assert/strict";
import { request } from "node:http";
import { test } from "node:test";
import { eventuallyTrue } from "../support/wait.js";
import { defaultConfig, send, startHarness } from "./harness.js";

test("with balanceFactor, concurrent requests for one hot key spill past the owner", async (t) => {
  const h = await startHarness({
    members: 3,
    config: (members) => ({ ...defaultConfig(members), pools: { users: { members, balanceFactor: 1.25 } } }),
  });
  t.after(() => h.close());
  for (const u of h.upstreams) u.mode = { kind: "delay", ms: 1000 };
  const owner = h.plane.explain("users", "hot")?.owner;
  const replies = await Promise.all(
    Array.from({ length: 12 }, () => send(h.port, { headers: { "x-user-id": "hot" } })),
  );
  const counts = new Map<string, number>();
  for (const r of replies) counts.set(r.json().member, (counts.get(r.json().member) ?? 0) + 1);
  assert.ok((counts.get(owner ?? "") ?? 0) < 12, `owner ${owner} took all: ${JSON.stringify([...counts])}`);
  assert.ok(counts.size >= 2, JSON.stringify([...counts]));
  // Once the load is gone the key goes back to its owner.
  await eventuallyTrue(() => h.plane.inFlight() === 0);
  for (const u of h.upstreams) u.mode = { kind: "echo" };
  assert.equal((await send(h.port, { headers: { "x-user-id": "hot" } })).json().member, owner);
});

test("without balanceFactor the same burst all goes to the owner", async (t) => {
  const h = await startHarness({ members: 3 });
  t.after(() => h.close());
  for (const u of h.upstreams) u.mode = { kind: "delay", ms: 100 };
  const replies = await Promise.all(
    Array.from({ length: 8 }, () => send(h.port, { headers: { "x-user-id": "hot" } })),
  );
  assert.equal(new Set(replies.map((r) => r.json().member)).size, 1);
});

/** Starts a request, waits for the first body bytes, then destroys the client socket. */
function abortAfterFirstChunk(port: number, key: string): Promise<void> {
  return new Promise((resolve) => {
    const req = request(
      { host: "127.0.0.1", port, path: "/stream", headers: { "x-user-id": key } },
      (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      },
    );
    req.on("error", () => resolve());
    req.end();
  });
}

test("clients aborting mid-response leave no upstream socket behind (many aborts)", async (t) => {
  const h = await startHarness({ members: 2 });
  t.after(() => h.close());
  for (const u of h.upstreams) u.mode = { kind: "slowStream", chunks: 200, everyMs: 20 };
  const aborts = 40;
  for (let batch = 0; batch < aborts / 10; batch++) {
    await Promise.all(Array.from({ length: 10 }, (_, i) => abortAfterFirstChunk(h.port, `k${batch}-${i}`)));
  }
  const settled = await eventuallyTrue(
    () => h.upstreams.every((u) => u.openConnections() === 0) && h.plane.upstreamSockets().busy === 0,
    3000,
  );
  assert.ok(
    settled,
    `upstream connections still open: ${h.upstreams.map((u) => `${u.id}=${u.openConnections()}`)} agent=${JSON.stringify(h.plane.upstreamSockets())}`,
  );
  assert.equal(h.plane.inFlight(), 0);
  // Each client had its 200 head: the record keeps it and says the client left (not 499, which
  // is for a client that was sent nothing).
  const aborted = h.rec.ends.filter(
    (e) => e.status === 200 && e.errorCode === "downstream_disconnected",
  ).length;
  assert.equal(aborted, aborts, "every abort after the head is recorded as 200 downstream_disconnected");
  // And the proxy still serves normally afterwards over the same agents.
  for (const u of h.upstreams) u.mode = { kind: "echo" };
  assert.equal((await send(h.port, { headers: { "x-user-id": "after" } })).status, 200);
});

test("clients aborting before the response head leave no upstream socket behind (self-handled attempts too)", async (t) => {
  // gateway-error retries make every GET attempt self-handled: both forwarding modes are covered.
  const h = await startHarness({
    members: 2,
    config: (members) => ({
      ...defaultConfig(members),
      pools: { users: { members, retry: { on: ["connect-failure", "reset", "gateway-error"] } } },
    }),
  });
  t.after(() => h.close());
  for (const u of h.upstreams) u.mode = { kind: "delayHeaders", ms: 5000 };
  const aborts = 10;
  const reqs = Array.from({ length: aborts }, (_, i) => {
    const req = request({ host: "127.0.0.1", port: h.port, path: "/", headers: { "x-user-id": `pre${i}` } });
    req.on("error", () => {});
    req.end();
    return req;
  });
  const arrived = await eventuallyTrue(() => h.upstreams.reduce((n, u) => n + u.requests, 0) === aborts);
  assert.ok(arrived, "every request reached an upstream before the clients left");
  // A FIN, as a closed tab or a Ctrl-C'd curl sends: with the default listen.clientHalfClose
  // (abort) it is the client gone (test/outside/half-close.test.ts has `answer`).
  for (const req of reqs) req.destroy();
  const settled = await eventuallyTrue(
    () => h.upstreams.every((u) => u.openConnections() === 0) && h.plane.upstreamSockets().busy === 0,
    3000,
  );
  assert.ok(
    settled,
    `upstream connections still open: ${h.upstreams.map((u) => `${u.id}=${u.openConnections()}`)} agent=${JSON.stringify(h.plane.upstreamSockets())}`,
  );
  assert.ok(await eventuallyTrue(() => h.plane.inFlight() === 0), "every aborted request ended");
  assert.equal(h.rec.ends.filter((e) => e.status === 499).length, aborts, "every abort is recorded as 499");
  assert.equal(h.rec.retries.length, 0, "a client abort is never retried");
});

test("keep-alive: sequential requests reuse upstream connections", async (t) => {
  const h = await startHarness({ members: 1 });
  t.after(() => h.close());
  for (let i = 0; i < 20; i++)
    assert.equal((await send(h.port, { headers: { "x-user-id": `k${i}` } })).status, 200);
  assert.ok(
    h.upstreams[0].connectionsAccepted <= 2,
    `accepted ${h.upstreams[0].connectionsAccepted} connections`,
  );
});
