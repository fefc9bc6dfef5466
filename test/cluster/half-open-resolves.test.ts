// Half-open probes always resolve (issue 10, item 2), with the real probe gate: the committed
// cluster state, CommittedRouting with OutcomeRecorders' gates, the data plane, ClusterHooks and
// real upstreams. A probe slot comes back whatever happens to the request (client abort,
// retry elsewhere, websocket upgrade); a request served by a second member counts a success
// for it and a failure for the first; /admin/route's explanation names the half-open member a
// request would reach.

import assert from "node:assert/strict";
import type { Server } from "node:http";
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { WebSocket } from "ws";
import { ClusterState } from "../../config/state/cluster-state.js";
import { ClusterHooks } from "../../proxy/cluster/cluster-hooks.js";
import { CommittedRouting } from "../../proxy/cluster/committed-routing.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { createDataPlane } from "../../proxy/forward/data-plane.js";
import type { MetricsObserver } from "../../proxy/metrics/observer.js";
import { createProxyServer } from "../../proxy/server/proxy-server.js";
import { enc, routingFrom, setRouting } from "../config/cluster-fixtures.js";
import { send } from "../proxy/harness.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventuallyTrue } from "../support/wait.js";

const NO_METRICS = {
  onRequestStart() {},
  onRetry() {},
  onUpstreamError() {},
  onRequestEnd() {},
} as unknown as MetricsObserver;

interface Rig {
  upstreams: EchoUpstream[];
  recorders: OutcomeRecorders;
  plane: ReturnType<typeof createDataPlane>;
  port: number;
  /** A key whose owner is `member`. */
  keyOwnedBy(member: string): string;
  close(): Promise<void>;
}

/** Three members, every one committed half-open, `halfOpenProbes` probes per member. */
async function startRig(halfOpenProbes: number, retryOn = "[connect-failure, reset]"): Promise<Rig> {
  const upstreams = await startUpstreams(3);
  const yaml = `pools:
  users:
    breaker: { halfOpenProbes: ${halfOpenProbes} }
    retry: { on: ${retryOn} }
    members:
${upstreams.map((u) => `      - { id: ${u.id}, address: "127.0.0.1:${u.port}" }`).join("\n")}
routes:
  - pool: users
    key: [header:x-user-id]
`;
  const state = new ClusterState();
  let index = 1;
  state.apply(index++, setRouting(routingFrom(yaml)));
  for (const u of upstreams) {
    const c = enc({
      v: 1,
      type: "SetBreaker",
      pool: "users",
      member: u.id,
      state: "half-open",
      since: 1,
      trips: 1,
    });
    const change = state.apply(index++, c);
    assert.equal(change.applied, true, change.error);
  }
  const recorders = new OutcomeRecorders();
  recorders.sync(state.current);
  const routing = new CommittedRouting((snap) => recorders.gateFor(snap));
  routing.apply(state.current, "all", true);
  const snap = routing.current().pools.get("users");
  assert.ok(
    snap?.members.every((m) => m.breakerHalfOpen),
    "every member is half-open",
  );
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const plane = createDataPlane({
    getState: routing.current,
    hooks: new ClusterHooks(NO_METRICS, recorders),
    logger: silent,
    options: { memberHeader: "x-served-by" },
  });
  const server: Server = createProxyServer({
    dataPlane: plane,
    logger: silent,
    listen: {
      timeouts: { request: 10_000, headers: 5_000, idle: 10_000, keepAlive: 1_000 },
      maxHeaderSize: 16_384,
    },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    upstreams,
    recorders,
    plane,
    port: (server.address() as AddressInfo).port,
    keyOwnedBy(member) {
      for (let i = 0; i < 10_000; i++) {
        const k = `key-${i}`;
        if (plane.explain("users", k)?.owner === member) return k;
      }
      throw new Error(`no key owned by ${member} among 10000`);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      plane.close();
      await closeAll(upstreams);
    },
  };
}

function outcomesOf(recorders: OutcomeRecorders): Map<string, { success: number; failure: number }> {
  const out = new Map<string, { success: number; failure: number }>();
  for (const e of recorders.drain().entries) out.set(e.member, { success: e.success, failure: e.failure });
  return out;
}

test("every member half-open: /admin/route names the owner, never member null, while it has a probe slot", async (t) => {
  const rig = await startRig(1);
  t.after(() => rig.close());
  const owner = rig.upstreams[0].id;
  const key = rig.keyOwnedBy(owner);
  const e = rig.plane.explain("users", key);
  assert.equal(e?.member, owner);
  const r = await send(rig.port, { headers: { "x-user-id": key } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers["x-served-by"], owner);
  assert.equal(rig.plane.explain("users", key)?.member, owner, "the finished probe gave its slot back");
});

test("a probe whose client went away (499) gives its slot back: the next request for the key probes the owner", async (t) => {
  const rig = await startRig(1);
  t.after(() => rig.close());
  const owner = rig.upstreams[1];
  const key = rig.keyOwnedBy(owner.id);
  owner.mode = { kind: "delayHeaders", ms: 5000 };
  const before = owner.requests;
  await new Promise<void>((resolve) => {
    const req = httpRequest({ host: "127.0.0.1", port: rig.port, path: "/", headers: { "x-user-id": key } });
    req.on("error", () => resolve());
    req.end();
    void eventuallyTrue(() => owner.requests > before, 3000).then(() => {
      req.destroy();
      resolve();
    });
  });
  assert.ok(await eventuallyTrue(() => rig.plane.inFlight() === 0, 3000), "the aborted probe ended");
  owner.mode = { kind: "echo" };
  const r = await send(rig.port, { headers: { "x-user-id": key } });
  assert.equal(r.headers["x-served-by"], owner.id, "the owner was probed again (slot returned)");
});

test("a request served by its second member counts success there and failure on the first", async (t) => {
  const rig = await startRig(2);
  t.after(() => rig.close());
  const first = rig.upstreams[2];
  const key = rig.keyOwnedBy(first.id);
  await first.die();
  outcomesOf(rig.recorders);
  const r = await send(rig.port, { headers: { "x-user-id": key } });
  assert.equal(r.status, 200, r.text);
  const second = String(r.headers["x-served-by"]);
  assert.notEqual(second, first.id);
  const o = outcomesOf(rig.recorders);
  assert.deepEqual(o.get(first.id), { success: 0, failure: 1 });
  assert.deepEqual(o.get(second), { success: 1, failure: 0 });
});

test("a websocket probe frees its slot at the 101 and counts as the member's success", async (t) => {
  const rig = await startRig(1);
  t.after(() => rig.close());
  const owner = rig.upstreams[0].id;
  const key = rig.keyOwnedBy(owner);
  const open = (): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${rig.port}/`, { headers: { "x-user-id": key } });
      ws.on("open", () => resolve(ws));
      ws.on("error", reject);
    });
  const a = await open();
  // The first tunnel is still open; its probe slot is already back.
  assert.equal(rig.plane.explain("users", key)?.member, owner);
  const r = await send(rig.port, { headers: { "x-user-id": key } });
  assert.equal(r.headers["x-served-by"], owner);
  a.close();
  assert.ok(await eventuallyTrue(() => rig.plane.inFlight() === 0, 3000));
  const o = outcomesOf(rig.recorders);
  assert.deepEqual(o.get(owner), { success: 2, failure: 0 }, "the HTTP probe and the upgrade");
});
