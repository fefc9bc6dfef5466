// Tried from the outside: an open WebSocket counts in the client's share of a member
// (listen.maxUpstreamPerClient, proxy/forward/client-share.ts) for as long as it lives, as a
// request in flight does. Real shardgate process, a real `ws` member, `ws` clients from two
// loopback addresses (127.0.0.1 the greedy one, 127.0.0.2 a bystander).
// Found: upgrades never took a share slot, so one client could open idle tunnels without bound
// (each one a member connection outside the 256 and a client connection of maxConnections) and
// nothing refused it. Now, with the default share (64) and the unshared half of 256 (128), the
// greedy client gets 128 tunnels and then 503 client_share_exceeded, counted in
// shardgate_downstream_client_errors_total{code="client_share_exceeded"}; the bystander still
// gets its 101, and tunnels that close give their slots back.

import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { metricValue, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const UNSHARED = 128;
const BATCH = 16;

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
wss.on("connection", (ws) => ws.on("message", (m) => ws.send(m)));
const open: WebSocket[] = [];

after(async () => {
  for (const ws of open) ws.terminate();
  await stopAll();
  for (const c of wss.clients) c.terminate();
  await new Promise((r) => wss.close(r));
});

interface Upgrade {
  /** 101 once open, else the refusal's status (0: no answer). */
  status: number;
  error: string;
  ws: WebSocket;
}

/** One WebSocket from `localAddress`; resolves once it is open or refused. */
function upgrade(url: string, localAddress: string): Promise<Upgrade> {
  const ws = new WebSocket(url, { headers: { "x-user-id": "same" }, localAddress });
  return new Promise((resolve) => {
    ws.once("open", () => {
      open.push(ws);
      resolve({ status: 101, error: "", ws });
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => {
        let error = "";
        try {
          error = String(JSON.parse(body).error);
        } catch {
          error = body;
        }
        ws.terminate();
        resolve({ status: res.statusCode ?? 0, error, ws });
      });
    });
    ws.once("error", () => resolve({ status: 0, error: "no answer", ws }));
  });
}

test("open WebSockets count in the client's share: the greedy client is refused 503 client_share_exceeded, another client gets its 101", {
  timeout: 120_000,
}, async () => {
  if (wss.address() === null) await new Promise((r) => wss.once("listening", r));
  const sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { token: "" }
log: { level: info, accessLog: true }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:${(wss.address() as AddressInfo).port}" }]
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`,
  );
  const url = `${sg.httpUrl.replace("http:", "ws:")}/live`;

  // The greedy client opens tunnels in batches until it is refused, bounded at 128 + 2 batches.
  let opened = 0;
  let refusal: Upgrade | undefined;
  while (refusal === undefined && opened < UNSHARED + 2 * BATCH) {
    const batch = await Promise.all(Array.from({ length: BATCH }, () => upgrade(url, "127.0.0.1")));
    for (const u of batch) {
      if (u.status === 101) opened++;
      else refusal ??= u;
    }
  }
  assert.ok(refusal !== undefined, `the greedy client was never refused: ${opened} tunnels open`);
  assert.equal(opened, UNSHARED, "the free half of the member address's connections, then nothing");
  assert.equal(refusal.status, 503);
  assert.equal(refusal.error, "client_share_exceeded");

  // Another client address is under its share: served.
  const bystander = await upgrade(url, "127.0.0.2");
  assert.equal(bystander.status, 101, `the other client's upgrade: ${bystander.status} ${bystander.error}`);
  const echoed = new Promise<string>((resolve) => bystander.ws.once("message", (d) => resolve(String(d))));
  bystander.ws.send("hello");
  assert.equal(await echoed, "hello");

  // Tunnels that close give their slots back: with the bystander's and one of its own gone
  // (fewer than 128 in use on the address), the greedy client gets a 101 again.
  bystander.ws.close();
  open[0].close();
  await eventually("the closed tunnels' slots are free again", async () => {
    const u = await upgrade(url, "127.0.0.1");
    return u.status === 101 ? true : undefined;
  });

  const metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  const refused = metricValue(metrics, "shardgate_downstream_client_errors_total", {
    code: "client_share_exceeded",
  });
  assert.ok(refused !== undefined && refused >= 1, `the refusals are counted: ${refused}`);
  // Access lines are written asynchronously (pino's destination): wait for it, bounded.
  const line = await sg.proc.waitForLine(
    "the refusal's access line",
    (l) => l.type === "access" && l.error === "client_share_exceeded",
  );
  assert.equal(line.status, 503);
  assert.equal(line.upgrade, true);
});
