// The client connection's idle / keep-alive timer is kept by one sweep, not a Timeout per socket
// (proxy/forward/socket-timer.ts), and keeps Node's semantics: the keep-alive deadline between
// requests, listen.timeouts.idle during a request, refreshed by traffic. Real Node HTTP servers
// on loopback, a raw TCP client (an http.Agent would arm timers of its own).

import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { test } from "node:test";
import { reuseSocketTimer } from "../../proxy/forward/socket-timer.js";
import { eventuallyTrue } from "../support/wait.js";

const IDLE_MS = 3000;
const KEEP_ALIVE_MS = 200;
/** Node keeps a keep-alive socket this much longer than it advertises. */
const NODE_KEEP_ALIVE_BUFFER_MS = 1000;
/** Timers never fire early; libuv's clock is read in whole milliseconds. */
const SLACK_MS = 30;
/** Every response body ends with this (the raw client counts them). */
const DONE = "<done>";

async function server(
  reuse: boolean,
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; port: number }> {
  const s = createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, (req, res) => {
    if (reuse) reuseSocketTimer(req.socket);
    handle(req, res);
  });
  s.timeout = IDLE_MS;
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return { server: s, port: (s.address() as AddressInfo).port };
}

function close(s: Server): Promise<void> {
  s.closeAllConnections();
  return new Promise((r) => s.close(() => r()));
}

interface RawClient {
  sock: Socket;
  responses(): number;
  closedAt(): number;
  ask(path: string): void;
  /** Resolves on the data event that completes response `n` (no polling timer). */
  response(n: number): Promise<void>;
}

/** A raw keep-alive client: counts complete responses (each body ends with DONE) and notes when the server closed. */
function client(port: number): RawClient {
  const sock = connect(port, "127.0.0.1");
  let text = "";
  let closedAt = -1;
  let waiting: { n: number; resolve: () => void } | null = null;
  const count = (): number => text.split(DONE).length - 1;
  sock.setEncoding("latin1");
  sock.on("data", (d: string) => {
    text += d;
    if (waiting !== null && count() >= waiting.n) {
      const w = waiting;
      waiting = null;
      w.resolve();
    }
  });
  sock.on("close", () => {
    closedAt = performance.now();
  });
  sock.on("error", () => undefined);
  return {
    sock,
    responses: count,
    closedAt: () => closedAt,
    ask: (path) => sock.write(`GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`),
    response: (n) =>
      count() >= n
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiting = { n, resolve };
          }),
  };
}

/** Timeout objects created while `n` sequential keep-alive requests are served. */
async function timersForRequests(reuse: boolean, n: number): Promise<number> {
  const { server: s, port } = await server(reuse, (_req, res) => res.end(DONE));
  const c = client(port);
  try {
    c.ask("/");
    await eventuallyTrue(() => c.responses() === 1, 10_000);
    let timers = 0;
    // One deadline for the whole loop, armed before counting starts.
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_r, reject) => {
      deadline = setTimeout(() => reject(new Error(`${n} requests took over 30 s`)), 30_000);
    });
    const hook = createHook({
      init(_id, type) {
        if (type === "Timeout") timers++;
      },
    }).enable();
    try {
      for (let i = 2; i <= n + 1; i++) {
        c.ask("/");
        await Promise.race([c.response(i), expired]);
      }
    } finally {
      hook.disable();
      clearTimeout(deadline);
    }
    return timers;
  } finally {
    c.sock.destroy();
    await close(s);
  }
}

test("socket timer: no timer object per request on a keep-alive connection (Node's own makes two)", async () => {
  const n = 100;
  const before = await timersForRequests(false, n);
  const after = await timersForRequests(true, n);
  // Node re-creates the socket's timer twice per request (keep-alive after the response, idle on the next head).
  assert.ok(before >= 2 * n * 0.9, `control server: ${before} timers for ${n} requests`);
  assert.ok(after < n / 10, `re-targeted: ${after} timers for ${n} requests`);
});

test("socket timer: the keep-alive deadline still closes a quiet connection between requests, not earlier", async () => {
  const { server: s, port } = await server(true, (_req, res) => res.end(DONE));
  const c = client(port);
  try {
    // Two requests, so the second one's timer is the re-targeted one.
    c.ask("/");
    await eventuallyTrue(() => c.responses() === 1, 10_000);
    c.ask("/");
    await eventuallyTrue(() => c.responses() === 2, 10_000);
    const answeredAt = performance.now();
    await eventuallyTrue(() => c.closedAt() >= 0, 20_000);
    const quiet = c.closedAt() - answeredAt;
    assert.ok(quiet >= KEEP_ALIVE_MS + NODE_KEEP_ALIVE_BUFFER_MS - SLACK_MS, `closed after ${quiet} ms`);
    // Well before the idle timeout: the timer was moved back to the keep-alive duration.
    assert.ok(quiet < IDLE_MS, `closed after ${quiet} ms, the idle timeout is ${IDLE_MS} ms`);
  } finally {
    c.sock.destroy();
    await close(s);
  }
});

test("socket timer: listen idle timeout applies during a request (not the keep-alive one), refreshed by traffic", async () => {
  const held: ServerResponse[] = [];
  const { server: s, port } = await server(true, (req, res) => {
    if (req.url === "/hang") {
      held.push(res);
      return;
    }
    if (req.url === "/trickle") {
      // A byte every 500 ms for 2.5 x the idle timeout: traffic keeps the connection open.
      res.writeHead(200, { "content-type": "text/plain" });
      let left = Math.ceil((IDLE_MS * 2.5) / 500);
      const t = setInterval(() => {
        if (--left > 0) res.write(".");
        else {
          clearInterval(t);
          res.end(DONE);
        }
      }, 500);
      res.on("close", () => clearInterval(t));
      return;
    }
    res.end(DONE);
  });
  const c = client(port);
  const d = client(port);
  try {
    c.ask("/");
    await eventuallyTrue(() => c.responses() === 1, 10_000);
    const askedAt = performance.now();
    c.ask("/hang");
    d.ask("/");
    await eventuallyTrue(() => d.responses() === 1, 10_000);
    d.ask("/trickle");
    await eventuallyTrue(() => c.closedAt() >= 0, 20_000);
    const quiet = c.closedAt() - askedAt;
    // The idle timeout, not the keep-alive one (1.2 s), cut the hanging request.
    assert.ok(quiet >= IDLE_MS - SLACK_MS, `hanging request cut after ${quiet} ms`);
    await eventuallyTrue(() => d.responses() === 2 || d.closedAt() >= 0, 30_000);
    assert.equal(d.responses(), 2, "the trickling response, quiet 500 ms at a time, was not cut");
  } finally {
    for (const r of held) r.destroy();
    c.sock.destroy();
    d.sock.destroy();
    await close(s);
  }
});

/** Timeout refreshes (net.Socket's per read and write, the re-targeting's per request) while `n` keep-alive requests are served. */
async function refreshesForRequests(reuse: boolean, n: number): Promise<number> {
  const { server: s, port } = await server(reuse, (_req, res) => res.end(DONE));
  const c = client(port);
  const probe = setTimeout(() => undefined, 1);
  const proto = Object.getPrototypeOf(probe) as { refresh(): unknown };
  clearTimeout(probe);
  const ownRefresh = proto.refresh;
  let refreshes = 0;
  try {
    c.ask("/");
    await eventuallyTrue(() => c.responses() === 1, 10_000);
    proto.refresh = function (this: unknown) {
      refreshes++;
      return ownRefresh.call(this);
    };
    for (let i = 2; i <= n + 1; i++) {
      c.ask("/");
      await eventuallyTrue(() => c.responses() === i, 10_000);
    }
    return refreshes;
  } finally {
    proto.refresh = ownRefresh;
    c.sock.destroy();
    await close(s);
  }
}

test("socket timer: no timer refreshed per request or per read and write (Node's own refreshes several)", async () => {
  const n = 50;
  const before = await refreshesForRequests(false, n);
  const after = await refreshesForRequests(true, n);
  // Control: net.Socket refreshes the server socket's timer on each read and write (the client has none).
  assert.ok(before >= 2 * n, `control server: ${before} refreshes for ${n} requests`);
  assert.ok(after < n / 10, `swept: ${after} refreshes for ${n} requests`);
});
