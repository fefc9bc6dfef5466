// The admin port, tried from the outside: a FIN that cuts a request head pipelined behind a
// complete request still in flight. The admin listener shares the data plane's clientError
// handler (proxy/server/client-error.ts) and, like listen.clientHalfClose: abort, does not
// answer half-closed clients, so the FIN is the client leaving: the in-flight request is cut,
// nothing is written and the connection is closed at once. Before, the handler left such a
// socket open with nobody to end it: the held request was answered a second later and the
// connection stayed up, the cut head pending, until the admin port's timeouts closed it.
//
// GET /admin/fleet is kept in flight by a fleet member that accepts and never answers
// (admin.fleet: the dashboard's fleet view waits up to 1 s for each). A real process, raw
// sockets, loopback.

import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { rawSession } from "../support/raw-socket.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";

let upstreams: EchoUpstream[] = [];
let silent: Server;
const held: Socket[] = [];
let sg: RunningShardgate;

before(async () => {
  upstreams = await startUpstreams(1, "ac");
  silent = createServer((s) => {
    held.push(s);
    s.on("error", () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const port = (silent.address() as { port: number }).port;
  const yaml = poolConfig({
    members: upstreams.map((u) => ({ id: u.id, port: u.port })),
    accessLog: false,
  }).replace(/^admin:\n/m, `admin:\n  fleet: ["http://127.0.0.1:${port}"]\n`);
  assert.match(yaml, /\n {2}fleet: \["http:\/\/127\.0\.0\.1:\d+"\]\n/);
  sg = await startShardgate(yaml);
});

after(async () => {
  await sg?.stop();
  await stopAll();
  await closeAll(upstreams);
  for (const s of held) s.destroy();
  await new Promise((resolve) => silent?.close(resolve));
});

test("admin port: FIN cutting a head pipelined behind an in-flight request: cut, nothing written, closed, no 408", async () => {
  const port = Number(new URL(sg.adminUrl).port);
  // Well past the fleet view's 1 s wait: an answer written after it, or a 408 at the admin
  // port's header timeout, would arrive within it on the old code.
  const { reply, closedByPeer } = await rawSession(port, 15_000, (s) => {
    s.end("GET /admin/fleet HTTP/1.1\r\nhost: admin\r\n\r\nGET /cuthead HTT");
  });
  await eventually("GET /admin/fleet was in flight (it reached the silent fleet member)", () =>
    held.length > 0 ? true : undefined,
  );
  assert.ok(
    closedByPeer,
    `the admin port closes the connection at the FIN; got ${JSON.stringify(reply.slice(0, 400))}`,
  );
  assert.doesNotMatch(reply, /408/, "no request timeout later");
  assert.equal(
    reply,
    "",
    `the in-flight request is cut, nothing written: ${JSON.stringify(reply.slice(0, 400))}`,
  );
  // The process keeps serving its admin port.
  await eventually("the admin port still answers", async () =>
    (await fetch(`${sg.adminUrl}/healthz`)).status === 200 ? true : undefined,
  );
});
