// The fleet tests' HTTP client (test/support/cluster/http-client.ts) and a server that closes
// an idle keep-alive connection just as the next request arrives, the race a loaded machine
// produces: the agent drops idle sockets 1 s before the server's keep-alive timeout, but a
// test process starved of CPU runs the callback that sends the next request before that timer.
// test/e2e/ctl.test.ts failed so ("socket hang up") in the heal POSTs that follow a 5 s refused
// drain. A GET may be sent again on a fresh connection (RFC 9112 9.3.1) and is; a POST must not
// be sent twice, so it never rides a reused connection. This server answers one request per
// connection and keeps it open, then drops it at the next request without an answer.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { after, before, test } from "node:test";
import { httpRequest } from "../support/cluster/http-client.js";

let server: Server;
let base = "";
const served = new WeakSet<Socket>();
let connections = 0;
let dropped = 0;
const posts: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    if (served.has(req.socket)) {
      // The idle connection's close, as seen by a request that arrived on it.
      dropped++;
      req.socket.destroy();
      return;
    }
    served.add(req.socket);
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => {
      if (req.method === "POST") posts.push(body);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ method: req.method }));
    });
  });
  server.keepAliveTimeout = 60_000;
  server.on("connection", () => connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

test("a GET on a connection closed under it is sent again; a POST never rides a reused connection", async () => {
  assert.equal((await httpRequest(`${base}/a`)).status, 200);
  // The agent reuses the first connection, which the server drops: sent again on a fresh one.
  const b = await httpRequest(`${base}/b`);
  assert.equal(b.status, 200);
  assert.equal(dropped, 1, "the second GET went out on the reused connection first");
  // An idle pooled connection again, then the POST (a cut/heal/drain in the fleet tests).
  assert.equal((await httpRequest(`${base}/c`)).status, 200);
  const before = connections;
  const post = await httpRequest(`${base}/admin/debug/heal`, { method: "POST", json: { peer: "b" } });
  assert.equal(post.status, 200);
  assert.deepEqual(post.body, { method: "POST" });
  assert.equal(dropped, 1, "the POST was not sent on the idle pooled connection");
  assert.equal(connections, before + 1, "the POST opened its own connection");
  assert.deepEqual(posts, ['{"peer":"b"}'], "the POST reached the server once");
});
