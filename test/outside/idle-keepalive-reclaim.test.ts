// Tried from the outside: listen.maxConnections refused every new client with 503
// too_many_connections once the cap was full, even when every open connection was an idle
// keep-alive client (10,000 idle sockets locked everyone else out; the admin port already
// reclaimed). Now (proxy/server/connection-cap.ts, README "Security"): at the cap the
// longest-idle keep-alive connection is closed to admit the new client, never one with a
// request in flight, an upgraded websocket, an HTTP/2 session or a fresh connection; the idle
// count, the oldest idle age and the reclaims are metrics. Real shardgate processes, real
// sockets at a small cap; the order in which connections go idle is drawn from a seed.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, test } from "node:test";
import WebSocket from "ws";
import { h2Session } from "../support/h2-client.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { rawSession } from "../support/raw-socket.js";
import {
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually, waitFor } from "../support/wait.js";

const SEED = testSeed(Date.now() % 1_000_000);
const sockets = new Set<Socket>();
const upstreamSets: EchoUpstream[][] = [];

after(async () => {
  for (const s of sockets) s.destroy();
  await stopAll();
  for (const u of upstreamSets) await closeAll(u);
});

async function startCapped(cap: number): Promise<RunningShardgate> {
  const upstreams = await startUpstreams(1);
  upstreamSets.push(upstreams);
  // Timeouts far beyond the test: nothing here is closed by a timeout.
  const yaml = poolConfig({ members: [{ id: "m1", port: upstreams[0].port }], accessLog: false }).replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0\n  maxConnections: ${cap}\n  timeouts: { headers: 60s, request: 120s, idle: 120s, keepAlive: 120s }\n`,
  );
  return startShardgate(yaml);
}

interface Conn {
  name: string;
  socket: Socket;
  closed: boolean;
  reply: string;
}

async function open(port: number, name: string): Promise<Conn> {
  const socket = connect(port, "127.0.0.1");
  sockets.add(socket);
  const c: Conn = { name, socket, closed: false, reply: "" };
  socket.on("error", () => {});
  socket.on("data", (d) => {
    c.reply += d.toString("latin1");
  });
  socket.on("close", () => {
    c.closed = true;
    sockets.delete(socket);
  });
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  return c;
}

function answers(c: Conn): number {
  return c.reply.split("HTTP/1.1 200 ").length - 1;
}

/** The last answer on the connection has fully arrived (a JSON echo, sized or chunked). */
function complete(reply: string): boolean {
  return reply.endsWith("}") || reply.endsWith("\r\n0\r\n\r\n");
}

/** One keep-alive GET on `c`; resolves once its whole answer (a JSON echo) has arrived. */
async function get(c: Conn, why: string): Promise<void> {
  const before = answers(c);
  c.socket.write(`GET /${c.name} HTTP/1.1\r\nHost: x\r\nx-user-id: ${c.name}\r\n\r\n`);
  await waitFor(
    () => c.closed || (answers(c) > before && complete(c.reply)),
    `${why}: ${c.name} answered`,
    20_000,
  );
  assert.ok(
    !c.closed,
    `${why}: ${c.name} closed instead of answered: ${JSON.stringify(c.reply.slice(-300))}`,
  );
}

async function metrics(sg: RunningShardgate): Promise<string> {
  const r = await fetch(`${sg.adminUrl}/metrics`);
  return r.text();
}

test(`at the cap the longest-idle keep-alive connection makes room, in idle order (seed ${SEED})`, async () => {
  const CAP = 6;
  const sg = await startCapped(CAP);
  const port = Number(new URL(sg.httpUrl).port);
  const conns: Conn[] = [];
  for (let i = 0; i < CAP; i++) {
    const c = await open(port, `k${i}`);
    await get(c, "fill");
    conns.push(c);
  }
  // Each sends a second request in a seeded order: that order is the order they went idle.
  const random = seededRandom(SEED);
  const order = [...conns];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (const c of order) await get(c, "refresh");
  const ctx = `seed ${SEED}, idle order ${order.map((c) => c.name).join(",")}`;

  const newcomers: Conn[] = [];
  for (let i = 0; i < 3; i++) {
    const n = await open(port, `n${i}`);
    await get(n, `newcomer ${i} (${ctx})`);
    newcomers.push(n);
    await waitFor(() => order[i].closed, `${order[i].name} reclaimed for n${i} (${ctx})`, 20_000);
    const stillOpen = [...order.slice(i + 1), ...newcomers];
    assert.deepEqual(
      stillOpen.filter((c) => c.closed).map((c) => c.name),
      [],
      `only the longest-idle connection is closed (${ctx})`,
    );
  }
  // The newcomers are idle keep-alive connections now; the ones never reclaimed still work.
  for (const c of order.slice(3)) await get(c, `survivor (${ctx})`);

  const text = await metrics(sg);
  assert.equal(metricValue(text, "shardgate_downstream_connections_reclaimed_total", {}), 3, ctx);
  assert.equal(metricValue(text, "shardgate_downstream_connections_open", {}), CAP, ctx);
  assert.equal(metricValue(text, "shardgate_downstream_connections_idle", {}), CAP, ctx);
  const oldest = metricValue(text, "shardgate_downstream_connection_idle_oldest_seconds", {}) ?? -1;
  assert.ok(oldest > 0 && oldest < 600, `oldest idle age ${oldest} s (${ctx})`);
  for (const c of [...conns, ...newcomers]) c.socket.destroy();
  await eventually(
    "every connection closed is counted out",
    async () => {
      const n = metricValue(await metrics(sg), "shardgate_downstream_connections_open", {});
      if (n !== 0) throw new Error(`shardgate_downstream_connections_open ${n}`);
      return true;
    },
    20_000,
  );
});

test("never reclaimed: a request in flight, a websocket, an HTTP/2 session, a fresh connection", async (t) => {
  const CAP = 5;
  const sg = await startCapped(CAP);
  const port = Number(new URL(sg.httpUrl).port);
  // Two requests in flight: bodies declared and never finished.
  const busy: Conn[] = [];
  for (let i = 0; i < 2; i++) {
    const c = await open(port, `busy${i}`);
    c.socket.write(
      `POST /busy${i} HTTP/1.1\r\nHost: x\r\nx-user-id: b${i}\r\nContent-Length: 10\r\n\r\nhalf`,
    );
    busy.push(c);
  }
  // A websocket through the proxy, echoing.
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  t.after(() => ws.terminate());
  ws.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const echoed = new Promise<string>((resolve) => ws.once("message", (d) => resolve(d.toString())));
  ws.send("ping");
  assert.match(await echoed, /ping/);
  // An HTTP/2 (h2c) session with a stream open.
  const session = await h2Session(t, `http://127.0.0.1:${port}`);
  const stream = session.request({ ":method": "POST", ":path": "/h2", "x-user-id": "h" });
  stream.on("error", () => {});
  stream.write("part of a body");
  // The fifth slot: one idle keep-alive connection.
  const k = await open(port, "k");
  await get(k, "idle one");

  // A newcomer takes the idle one's slot.
  const n1 = await open(port, "n1");
  await get(n1, "newcomer 1");
  await waitFor(() => k.closed, "the idle keep-alive connection is reclaimed", 20_000);
  // n1 is idle now; a fresh connection that sends nothing yet takes its slot.
  const n2 = await open(port, "n2");
  await waitFor(() => n1.closed, "the newcomer, idle in turn, is reclaimed", 20_000);
  // Nothing idle is left: the next one is refused.
  const refused = await rawSession(port, 10_000, (s) => s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.match(refused.reply, /^HTTP\/1\.1 503 /, refused.reply);
  assert.match(refused.reply, /"too_many_connections"/, refused.reply);
  assert.deepEqual(
    [...busy, n2].filter((c) => c.closed).map((c) => c.name),
    [],
    "busy and fresh connections are never reclaimed",
  );
  assert.equal(ws.readyState, WebSocket.OPEN, "the websocket is never reclaimed");
  assert.ok(!session.closed && !session.destroyed && !stream.closed, "the HTTP/2 session is never reclaimed");
  // The requests in flight finish normally.
  for (const c of busy) c.socket.write("123456");
  await waitFor(() => busy.every((c) => answers(c) === 1), "both requests in flight answered", 20_000);
  n2.socket.destroy();
  const text = await metrics(sg);
  assert.equal(metricValue(text, "shardgate_downstream_connections_reclaimed_total", {}), 2);
  assert.match(text, /shardgate_downstream_client_errors_total\{code="too_many_connections"\} 1\b/);
  for (const c of busy) c.socket.destroy();
  session.destroy();
  ws.terminate();
});
