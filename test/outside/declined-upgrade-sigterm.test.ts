// SIGTERM with a declined upgrade in flight, tried from the outside: a real shardgate process
// between a raw client and a member that never answers. An `Upgrade: h2c` offer is served as a
// plain HTTP/1.1 request (upgrade-declined.ts), but Node has already handed its socket over as
// an upgrade, so the HTTP server's closeAllConnections at the drain deadline does not reach it.
// Found: the data plane's close cut only WebSocket sockets. Such a request was ended by the
// close of the member pools instead: answered 502 upstream_reset ("the upstream member closed
// the connection") and reported to the member's failure hooks, although shardgate itself cut
// it. Now every socket the listener hands over as an upgrade is cut at the deadline, before
// the pools close, and the request is answered as every request waiting on its member then
// is: 503 shutting_down.

import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { connect } from "node:net";
import { after, test } from "node:test";
import { usersPool } from "../support/minimal-config.js";
import { tearDownOutside } from "../support/outside-teardown.js";
import { assertSigtermCutsAtDeadline } from "../support/raw-upgrade.js";
import { startShardgate } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const DRAIN_MS = 1_000;

// A member that takes the request and never answers it.
const held: IncomingMessage[] = [];
const member = createServer((req) => held.push(req));

after(() => tearDownOutside({ member }));

test("SIGTERM with an h2c-offer request in flight: cut at the drain deadline, logged, exit at once", {
  timeout: 120_000,
}, async () => {
  await new Promise<void>((r) => member.listen(0, "127.0.0.1", r));
  const sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: true }
${usersPool(`127.0.0.1:${(member.address() as AddressInfo).port}`, "    timeouts: { response: 60s }\n")}`,
    { args: ["--drain-timeout", `${DRAIN_MS}ms`] },
  );
  const client: Socket = connect(Number(new URL(sg.httpUrl).port), "127.0.0.1");
  client.on("error", () => undefined);
  // Read, so the close (a FIN) is seen; nothing is answered before the cut.
  let reply = "";
  client.on("data", (d) => {
    reply += d.toString("latin1");
  });
  const clientClosed = new Promise<number>((resolve) => client.once("close", () => resolve(Date.now())));
  client.write(
    "GET /held HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nConnection: Upgrade, HTTP2-Settings\r\n" +
      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
  );
  await eventually("the member holds the request", () => (held.length > 0 ? true : undefined));

  await assertSigtermCutsAtDeadline(sg, DRAIN_MS, clientClosed);
  const line = sg.proc.lines.find((l) => l.type === "access" && l.path === "/held");
  assert.ok(line !== undefined, `the request's access line is written\n${sg.proc.output()}`);
  // As a plain request waiting on its member at the deadline: answered 503 shutting_down, the
  // member not blamed (the shutdown-cut rule, test/outside/shutdown-cut-requests.test.ts).
  assert.equal(line.status, 503, JSON.stringify(line));
  assert.equal(line.error, "shutting_down", JSON.stringify(line));
  assert.match(reply, /^HTTP\/1\.1 503 /, "the cut request is answered 503");
  assert.match(reply, /shutting_down/, reply);
});
