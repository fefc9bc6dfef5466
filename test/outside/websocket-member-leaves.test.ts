// What an open WebSocket does when its member leaves the ring, tried from the outside: a real
// shardgate process in front of three `ws` members, tunnels open on each, then one member
// drained through the admin API and another removed by a SIGHUP reload.
// Held (pinned here, documented in the README): a tunnel stays on its member until either side
// closes it or it idles out, as Envoy keeps a removed host's streams until they end; only new
// upgrades follow the ring. Nothing in shardgate closes a tunnel by member (a drain, a reload,
// an open breaker and a failing health check all change routing only), so every instance of a
// fleet does the same: its open tunnels stay, its new upgrades go where the shared ring says.

import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { fetchJson, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const TOKEN = "websocket-member-leaves-token";
const members: WebSocketServer[] = [];
let sg: RunningShardgate;

function config(ids: readonly number[]): string {
  const list = ids.map(
    (i) => `{ id: m${i}, address: "127.0.0.1:${(members[i - 1].address() as AddressInfo).port}" }`,
  );
  return `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: true }
admin: { token: ${TOKEN} }
pools:
  users:
    members: [${list.join(", ")}]
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`;
}

before(async () => {
  for (let i = 1; i <= 3; i++) {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    wss.on("connection", (ws) => ws.on("message", (m) => ws.send(`m${i}:${m}`)));
    await new Promise((r) => wss.once("listening", r));
    members.push(wss);
  }
  sg = await startShardgate(config([1, 2, 3]));
});

after(async () => {
  await stopAll();
  for (const wss of members) {
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  }
});

async function open(key: string): Promise<WebSocket> {
  const ws = new WebSocket(`${sg.httpUrl.replace("http:", "ws:")}/live`, { headers: { "x-user-id": key } });
  ws.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return ws;
}

/** Sends `text` and resolves with the echo's member id ("m2"), or why there was none. */
function memberOf(ws: WebSocket, text: string): Promise<string> {
  if (ws.readyState !== WebSocket.OPEN) return Promise.resolve(`closed (state ${ws.readyState})`);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("no echo"), scaled(5_000));
    ws.once("message", (d) => {
      clearTimeout(timer);
      resolve(String(d).split(":")[0]);
    });
    ws.send(text);
  });
}

async function ownerOf(key: string): Promise<string> {
  const r = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${key}`);
  return (r.body as { member: string }).member;
}

test("a drained or removed member keeps its open WebSockets; new upgrades follow the ring", {
  timeout: 120_000,
}, async () => {
  // Keys until every member holds a tunnel (a few dozen at most for three members).
  const tunnels: Array<{ key: string; ws: WebSocket; member: string }> = [];
  for (let k = 0; k < 60 && new Set(tunnels.map((t) => t.member)).size < 3; k++) {
    const ws = await open(`user-${k}`);
    tunnels.push({ key: `user-${k}`, ws, member: await memberOf(ws, "hello") });
  }
  assert.equal(new Set(tunnels.map((t) => t.member)).size, 3, JSON.stringify(tunnels.map((t) => t.member)));

  const drain = await fetch(`${sg.adminUrl}/admin/pools/users/members/m1/drain`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(drain.status, 200, await drain.text());
  sg.config.write(config([1, 3]));
  sg.proc.signal("SIGHUP");
  await sg.proc.waitForLine("the reload", (l) => l.msg === "config reloaded");

  for (const t of tunnels)
    assert.equal(await memberOf(t.ws, "still"), t.member, `${t.key}'s tunnel stays on ${t.member}`);
  for (const t of tunnels.filter((x) => x.member !== "m3")) {
    const ws = await open(t.key);
    assert.equal(
      await memberOf(ws, "fresh"),
      "m3",
      `a new upgrade for ${t.key} (was ${t.member}) goes to m3`,
    );
    assert.equal(await ownerOf(t.key), "m3");
    ws.close();
  }
  for (const t of tunnels) t.ws.close();
});
