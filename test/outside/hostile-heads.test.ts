// Heads an attacker sends, tried from the outside against a real shardgate process (raw
// sockets on loopback), that earlier tests did not cover:
// - an HTTP/1.0 request with Transfer-Encoding: HTTP/1.0 has no chunked coding, so a front
//   proxy may take the body's end elsewhere than this one (request smuggling; RFC 9112
//   section 6.1 says treat the framing as faulty and close, HAProxy refuses it). It was
//   forwarded (200). Now: 400 bad_request, the connection closed, the upstream never asked.
// - the admin port's parser refusals (headers too slow, too large, malformed) were a bare
//   "400 Bad Request" without a body; now each is the coded JSON answer the proxy port gives.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { rawSession, statusAndError } from "../support/raw-socket.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

let upstreams: EchoUpstream[] = [];
let sg: RunningShardgate;

before(async () => {
  upstreams = await startUpstreams(1);
  const yaml = poolConfig({ members: [{ id: "m1", port: upstreams[0].port }] }).replace(
    "  admin: 127.0.0.1:0\n",
    "  admin: 127.0.0.1:0\n  timeouts: { headers: 1s }\n",
  );
  sg = await startShardgate(yaml);
});

after(async () => {
  await stopAll();
  await closeAll(upstreams);
});

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function exchange(
  port: number,
  send: (write: (b: string) => void) => void,
  ms: number,
): Promise<{ reply: string; closedByPeer: boolean }> {
  return rawSession(port, ms, (s) => send((b) => s.write(b)));
}

test("HTTP/1.0 with Transfer-Encoding: 400 bad_request, connection closed, nothing forwarded", async () => {
  const port = portOf(sg.httpUrl);
  const chunked = "5\r\nhello\r\n0\r\n\r\n";
  // The control: the same body over HTTP/1.1 is forwarded.
  const ok = await exchange(
    port,
    (w) =>
      w(
        `POST / HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`,
      ),
    15_000,
  );
  assert.equal(statusAndError(ok.reply).status, 200, ok.reply);
  const before = upstreams[0].requests;
  for (const te of ["chunked", "identity", "gzip, chunked"]) {
    const r = await exchange(
      port,
      (w) =>
        w(
          `POST / HTTP/1.0\r\nHost: a\r\nx-user-id: k\r\nConnection: keep-alive\r\nTransfer-Encoding: ${te}\r\n\r\n${chunked}`,
        ),
      15_000,
    );
    assert.deepEqual(statusAndError(r.reply), { status: 400, error: "bad_request" }, `TE ${te}:\n${r.reply}`);
    assert.ok(r.closedByPeer, `TE ${te}: the connection must be closed after the 400`);
  }
  assert.equal(
    upstreams[0].requests,
    before,
    "no HTTP/1.0 request with Transfer-Encoding reached the upstream",
  );
});

test("the admin port answers its parser refusals as coded JSON", async () => {
  const port = portOf(sg.adminUrl);
  // Headers trickled slower than listen.timeouts.headers (1 s here): 408, as on the proxy port.
  const slow = await exchange(
    port,
    (w) => {
      w("GET /healthz HTTP/1.1\r\nHost: a\r\n");
      let n = 0;
      const t = setInterval(() => {
        if (++n > 40) clearInterval(t);
        else w(`x-${n}: a\r\n`);
      }, 250);
      t.unref();
    },
    20_000,
  );
  assert.deepEqual(statusAndError(slow.reply), { status: 408, error: "request_timeout" }, slow.reply);
  const big = await exchange(
    port,
    (w) => w(`GET /healthz HTTP/1.1\r\nHost: a\r\nx-a: ${"a".repeat(70_000)}\r\n\r\n`),
    15_000,
  );
  assert.deepEqual(statusAndError(big.reply), { status: 431, error: "headers_too_large" }, big.reply);
  const nul = await exchange(
    port,
    (w) => w("GET /healthz HTTP/1.1\r\nHost: a\r\nx-a: b\u0000c\r\n\r\n"),
    15_000,
  );
  assert.deepEqual(statusAndError(nul.reply), { status: 400, error: "bad_request" }, nul.reply);
  assert.ok(nul.closedByPeer, "the admin port closes a connection it could not parse");
  // And it still serves.
  const health = await fetch(`${sg.adminUrl}/healthz`);
  assert.equal(health.status, 200);
});
