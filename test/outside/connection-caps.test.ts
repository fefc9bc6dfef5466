// Tried from the outside: the admin listener had no connection cap. 8,000 idle sockets held
// ~36 MB of the process and nothing refused them; a slowloris holding sockets open with
// trickled headers met only the headers timeout; a body on an endpoint that reads none was
// drained for as long as the client sent it. The data listener had timeouts but no cap either.
// Now (proxy/server/connection-cap.ts, README "Security"):
// - admin.maxConnections: at the cap the oldest connection with no request in flight is closed
//   to admit the new one, so tricklers cannot starve /readyz or /metrics; only connections all
//   busy with requests make a new one wait, and it is refused 503 too_many_connections.
// - listen.maxConnections: past it, 503 too_many_connections and close (counted in
//   shardgate_downstream_client_errors_total).
// - admin.maxBodySize: 413 body_too_large and close, declared or chunked, on every path.
// - admin.timeouts: the admin port's own headers/keep-alive timeouts.
// Real shardgate processes, raw sockets on loopback; every socket opened is destroyed.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { rawSession } from "../support/raw-socket.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually, waitFor } from "../support/wait.js";

const TOKEN = "cap-test-token-0123456789";
const CAP = 8;

let upstreams: EchoUpstream[] = [];
let sg: RunningShardgate;
const sockets = new Set<Socket>();

before(async () => {
  upstreams = await startUpstreams(1);
  // Timeouts long enough that nothing here is ended by a timeout unless a test sets one.
  const yaml = poolConfig({ members: [{ id: "m1", port: upstreams[0].port }], token: TOKEN })
    .replace(
      "  admin: 127.0.0.1:0\n",
      `  admin: 127.0.0.1:0\n  maxConnections: ${CAP}\n  timeouts: { headers: 60s, request: 120s, idle: 120s, keepAlive: 60s }\n`,
    )
    .replace(
      `admin:\n  token: "${TOKEN}"\n`,
      `admin:\n  token: "${TOKEN}"\n  maxConnections: ${CAP}\n  maxBodySize: 1kb\n  timeouts: { keepAlive: 400ms }\n`,
    );
  sg = await startShardgate(yaml);
});

after(async () => {
  for (const s of sockets) s.destroy();
  await stopAll();
  await closeAll(upstreams);
});

function portOf(url: string): number {
  return Number(new URL(url).port);
}

interface Held {
  socket: Socket;
  closed: boolean;
  reply: string;
}

/** Opens a socket that writes `first` and then holds; tracks whether the peer closed it. */
async function hold(port: number, first: string): Promise<Held> {
  const socket = connect(port, "127.0.0.1");
  sockets.add(socket);
  const h: Held = { socket, closed: false, reply: "" };
  socket.on("error", () => {});
  socket.on("data", (d) => {
    h.reply += d.toString("latin1");
  });
  socket.on("close", () => {
    h.closed = true;
    sockets.delete(socket);
  });
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  if (first !== "") socket.write(first);
  return h;
}

/**
 * Ends each connection and waits until the server has closed it too. A socket destroyed here
 * is closed on the server's side only when the server reads its FIN: one the server destroyed
 * still holds its cap slot until its 'close' event, later in the same event-loop turn, so a
 * connection accepted in that turn was refused 503 (12 of 15 tries in a probe, the next case's
 * first busy connection). Once the client sees the server's close, that turn is over.
 */
async function closeFromServerSide(held: readonly Held[]): Promise<void> {
  for (const h of held) h.socket.end();
  await waitFor(() => held.every((h) => h.closed), "the server closed every connection", 20_000);
}

function statusAndError(reply: string): { status: number; error: unknown } {
  const status = Number(reply.slice(9, 12));
  try {
    return {
      status,
      error: (JSON.parse(reply.slice(reply.indexOf("\r\n\r\n") + 4)) as { error?: unknown }).error,
    };
  } catch {
    return { status, error: `(no JSON body: ${JSON.stringify(reply.slice(0, 120))})` };
  }
}

/** One request on a fresh connection (no keep-alive pool): status and body. */
async function getFresh(url: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const r = await rawSession(Number(u.port), 10_000, (s) =>
    s.write(`GET ${u.pathname} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
  );
  return { status: Number(r.reply.slice(9, 12)), body: r.reply.slice(r.reply.indexOf("\r\n\r\n") + 4) };
}

test("admin: a slowloris holding every slot cannot starve /readyz or /metrics", async () => {
  const port = portOf(sg.adminUrl);
  // Three times the cap of tricklers: headers started, never finished.
  const tricklers: Held[] = [];
  for (let i = 0; i < CAP * 3; i++) tricklers.push(await hold(port, "GET /readyz HTTP/1.1\r\nHost: x\r\n"));
  // The cap holds: all but CAP of them are closed by the server.
  await waitFor(() => tricklers.filter((t) => !t.closed).length <= CAP, "at most CAP tricklers open", 20_000);
  for (let i = 0; i < 10; i++) {
    const path = i % 2 === 0 ? "/readyz" : "/metrics";
    const r = await getFresh(`${sg.adminUrl}${path}`);
    assert.equal(r.status, 200, `${path} #${i} under a slowloris: ${r.body.slice(0, 200)}`);
  }
  assert.ok(tricklers.filter((t) => !t.closed).length <= CAP);
  await closeFromServerSide(tricklers);
});

test("admin: connections all busy with requests: the next one is refused 503 too_many_connections", async () => {
  const port = portOf(sg.adminUrl);
  // A breaker override whose body never finishes: a request in flight, held by the server.
  const busy: Held[] = [];
  const head =
    "POST /admin/pools/users/members/m1/breaker HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" +
    `Authorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"st`;
  // "100 Continue" is written as the server takes up the request: from then on it is in flight.
  // The previous case's connections are gone on the server's side (closeFromServerSide), so
  // every slot is free: a refusal here is a slot the cap did not give back.
  for (let i = 0; i < CAP; i++) {
    const b = await hold(port, head);
    await waitFor(() => b.reply.startsWith("HTTP/1.1 100") || b.closed, `busy request ${i} answered`, 20_000);
    assert.ok(
      b.reply.startsWith("HTTP/1.1 100"),
      `busy request ${i} refused with no other connection open: ${JSON.stringify(b.reply.slice(0, 120))}`,
    );
    busy.push(b);
  }
  const refused = await rawSession(port, 10_000, (s) => s.write("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.deepEqual(
    statusAndError(refused.reply),
    { status: 503, error: "too_many_connections" },
    refused.reply,
  );
  assert.ok(refused.closedByPeer, "a refused connection is closed");
  assert.ok(
    busy.every((b) => !b.closed),
    "busy connections are never reclaimed",
  );
  // Their requests finish: each is answered (400, the body is not the expected JSON) and the slot frees.
  for (const b of busy) b.socket.write(`${"x".repeat(96)}`);
  await waitFor(
    () => busy.every((b) => b.reply.includes("HTTP/1.1 400")),
    "every busy request answered",
    20_000,
  );
  const r = await getFresh(`${sg.adminUrl}/readyz`);
  assert.equal(r.status, 200, r.body);
  for (const b of busy) b.socket.destroy();
});

test("admin: a body over admin.maxBodySize is refused 413 and its connection closed, on every path", async () => {
  const port = portOf(sg.adminUrl);
  const auth = `Authorization: Bearer ${TOKEN}\r\n`;
  // Declared too large, on a path that reads a body and on one that reads none.
  for (const target of ["/admin/pools/users/members/m1/breaker", "/readyz"]) {
    const method = target === "/readyz" ? "GET" : "POST";
    const r = await rawSession(port, 10_000, (s) =>
      s.write(
        `${method} ${target} HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 5000000\r\n\r\n${"y".repeat(2000)}`,
      ),
    );
    assert.deepEqual(
      statusAndError(r.reply),
      { status: 413, error: "body_too_large" },
      `${target}: ${r.reply}`,
    );
    assert.ok(r.closedByPeer, `${target}: closed after the 413`);
  }
  // Chunked, past the cap, on a reading path: 413 and closed while the client is still sending.
  const chunk = `400\r\n${"z".repeat(0x400)}\r\n`;
  const chunked = await rawSession(port, 10_000, (s) => {
    s.write(
      `POST /admin/pools/users/members/m1/breaker HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n`,
    );
    for (let i = 0; i < 4; i++) s.write(chunk);
  });
  assert.deepEqual(statusAndError(chunked.reply), { status: 413, error: "body_too_large" }, chunked.reply);
  assert.ok(chunked.closedByPeer);
  // Chunked on a path that reads none: the answer comes, then the flood is cut off.
  const flood = await hold(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (let i = 0; i < 64 && !flood.closed; i++) {
    flood.socket.write(chunk);
    await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => flood.closed, "a body flood on /healthz is cut off", 10_000);
  assert.match(flood.reply, /^HTTP\/1\.1 200/);
  // The whole flood in one write: the body passes the cap in the server's first reads, and the
  // answer must still come before the close. (A CI run lost the answer of the flood above: the
  // socket was destroyed when the body passed the cap, before the answer had been written; it
  // is now closed once the answer has gone out.)
  const burst = await hold(
    port,
    `GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.repeat(80)}`,
  );
  await waitFor(() => burst.closed, "a one-write body flood on /healthz is cut off", 10_000);
  assert.match(burst.reply, /^HTTP\/1\.1 200/, "the answer arrives before the connection closes");
});

test("admin.timeouts: an idle keep-alive admin connection closes after its own keepAlive", async () => {
  const port = portOf(sg.adminUrl);
  const ka = await hold(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  // admin.timeouts.keepAlive is 400 ms while listen.timeouts.keepAlive is 60 s.
  await waitFor(() => ka.closed, "the idle admin connection is closed", 15_000);
  assert.match(ka.reply, /^HTTP\/1\.1 200/);
});

test("data port: past listen.maxConnections, 503 too_many_connections and counted; room again once they close", async () => {
  const port = portOf(sg.httpUrl);
  const idle: Held[] = [];
  for (let i = 0; i < CAP; i++) idle.push(await hold(port, ""));
  const refused = await rawSession(port, 10_000, (s) => s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.deepEqual(
    statusAndError(refused.reply),
    { status: 503, error: "too_many_connections" },
    refused.reply,
  );
  assert.match(refused.reply, /\r\nRetry-After: 1\r\n/i);
  assert.ok(
    idle.every((h) => !h.closed),
    "the data port does not reclaim connections",
  );
  for (const h of idle) h.socket.destroy();
  await eventually(
    "a request served once the held connections closed",
    async () => {
      const r = await getFresh(`${sg.httpUrl}/a`);
      if (r.status !== 200) throw new Error(`${r.status} ${r.body.slice(0, 200)}`);
      return true;
    },
    15_000,
  );
  const metrics = (await getFresh(`${sg.adminUrl}/metrics`)).body;
  assert.match(metrics, /shardgate_downstream_client_errors_total\{code="too_many_connections"\} [1-9]/);
});
