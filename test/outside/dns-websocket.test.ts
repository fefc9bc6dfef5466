// Tried from the outside: a WebSocket upgrade to a pool member named by hostname whose DNS
// never answers. Upgrades go through http-proxy-3 on a fresh connection (`agent: false`), and
// http-proxy-3 copies no `lookup` into that request's options: the upgrade's lookup was
// Node's getaddrinfo, not the bounded lookup every other upstream connection uses.
// Found: the upgrade's getaddrinfo held a libuv thread for the resolver's whole 150 s, and
// SIGTERM did not end the process (the exit joins the hung thread). Now the upgrade's
// lookup is c-ares, bounded at 5 s: the upgrade is answered 502 and SIGTERM exits 0.
// A real shardgate process in a mount namespace of its own whose resolv.conf names a DNS
// double on 127.x.y.z:53 (test/support/dns-double.ts); loopback only.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { dnsFixture, sigtermExit } from "../support/dns-process.js";
import { scaled } from "../support/wait.js";

const fx = dnsFixture(20_261_207, "shardgate-dns-ws-");
const NAME = "member.dns-websocket.test";

/** Sends a WebSocket upgrade to `hostPort`; resolves with what came back once the socket closes, a whole JSON answer arrived, or `ms` pass. */
function upgrade(hostPort: string, ms: number): Promise<{ text: string; closed: boolean }> {
  const [host, port] = hostPort.split(":");
  return new Promise((resolve) => {
    const socket = connect(Number(port), host);
    let text = "";
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.setEncoding("latin1");
    socket.on("data", (c: string) => {
      if (text.length < 65_536) text += c;
      if (/^HTTP\/1\.1 \d{3}/.test(text) && text.includes("\r\n\r\n") && text.trimEnd().endsWith("}"))
        finish(true);
    });
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.write(
      "GET /named/ws HTTP/1.1\r\nHost: x\r\nx-k: ws\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
  });
}

test("a WebSocket upgrade to a hostname member whose DNS never answers: upstream_dns in bounded time, SIGTERM exits 0", {
  skip: fx.skip ?? false,
  timeout: 240_000,
}, async () => {
  const { dns, port } = await fx.prepare("silent");
  const sg = await fx.start(
    "ws",
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
pools:
  named:
    breaker: { consecutiveFailures: 100000, minRequests: 100000 }
    members:
      - { id: n1, address: "${NAME}:${port}" }
routes:
  - { match: { pathPrefix: / }, pool: named, key: [header:x-k] }
`,
    // One try of 30 s (glibc's cap), 5 times: a hung getaddrinfo holds its thread 150 s.
    { timeoutS: 30, attempts: 5 },
  );
  const output = sg.output;

  const answer = await upgrade(sg.httpAddress, scaled(30_000));
  assert.ok(dns.queries.includes(NAME), `the member's name was never asked\n${output()}`);
  // The connect timeout (1 s) covers the lookup; the lookup itself ends within 5 s.
  assert.match(
    answer.text,
    /^HTTP\/1\.1 502 [\s\S]*"error":"(upstream_connect_failed|upstream_dns)"/,
    `upgrade answer: ${JSON.stringify(answer)}\n${output()}`,
  );

  // The old code: "shutdown complete", then no exit (the exit joined the hung getaddrinfo thread).
  const code = await sigtermExit(sg);
  assert.equal(code, 0, `SIGTERM after an upgrade whose DNS hung\n${output()}`);
});
