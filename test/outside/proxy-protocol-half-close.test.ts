// Tried from the outside on a listener with listen.proxyProtocol: a peer that sends its FIN
// before a complete PROXY header. A load balancer's TCP health check does exactly that with no
// byte at all (AWS NLB, haproxy `check`: connect, then close). The socket was held half-open
// for the whole headers timeout, a slot of listen.maxConnections, and then logged at warn and
// counted as proxy_protocol_timeout: one warning per health check. The plain port already
// closed such sockets at once (h2c-preface.ts). Now (proxy/server/proxy-protocol-accept.ts):
// no byte then FIN is closed at once, quietly; part of a header then FIN is refused at once as
// proxy_protocol_malformed. Held, kept as guards: a complete header then FIN is served as
// HTTP (closed at once); a v2 header with unknown TLVs, and a LOCAL one, serve the request.
// Real shardgate process, raw sockets on loopback.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { tearDownOutside } from "../support/outside-teardown.js";
import {
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
} from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

/** Long, so that a close at the timeout cannot pass for a close at the FIN. */
const HEADERS_MS = 20_000;
const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

let upstream: Server;
let sg: RunningShardgate;
let port: number;

before(async () => {
  upstream = createServer((req, res) => res.end(JSON.stringify({ xff: req.headers["x-forwarded-for"] })));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
  const up = (upstream.address() as { port: number }).port;
  const yaml = poolConfig({ members: [{ id: "m1", port: up }] }).replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0
  proxyProtocol: { trusted: ["127.0.0.0/8"] }
  timeouts: { headers: ${HEADERS_MS}ms, request: ${2 * HEADERS_MS}ms }
`,
  );
  sg = await startShardgate(yaml);
  port = Number(new URL(sg.httpUrl).port);
});

after(() => tearDownOutside({ member: upstream }));

/** Connects, lets `send` write; resolves with the reply and how long the peer took to close (-1: not within `ms`). */
function session(ms: number, send: (s: Socket) => void): Promise<{ reply: string; closedMs: number }> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    const t0 = performance.now();
    let reply = "";
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ reply, closedMs: -1 });
    }, ms);
    s.on("data", (d) => {
      reply += d.toString("latin1");
    });
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ reply, closedMs: performance.now() - t0 });
    });
    s.on("connect", () => send(s));
  });
}

async function clientErrors(code: string): Promise<number> {
  const text = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  return metricValue(text, "shardgate_downstream_client_errors_total", { code }) ?? 0;
}

const refusals = (code: string): number =>
  sg.proc.lines.filter((l) => l.msg === "PROXY protocol connection refused" && l.code === code).length;

test("a FIN before a complete PROXY header closes the connection at once; a health check's is not warned about", async () => {
  const half = HEADERS_MS / 2;
  const malformedBefore = await clientErrors("proxy_protocol_malformed");
  const [healthCheck, partialV1, partialV2] = await Promise.all([
    session(HEADERS_MS * 1.5, (s) => s.end()),
    session(HEADERS_MS * 1.5, (s) => s.end("PROXY TCP4 1.2")),
    session(HEADERS_MS * 1.5, (s) => s.end(SIG.subarray(0, 9))),
  ]);
  for (const [what, r] of [
    ["no byte, then FIN (a TCP health check)", healthCheck],
    ["part of a v1 header, then FIN", partialV1],
    ["part of a v2 header, then FIN", partialV2],
  ] as const) {
    assert.ok(
      r.closedMs >= 0 && r.closedMs < half,
      `${what}: closed after ${Math.round(r.closedMs)} ms (-1: open), headers timeout ${HEADERS_MS} ms`,
    );
    assert.equal(r.reply, "", `${what}: no answer`);
  }
  await eventually("the two truncated headers counted", async () =>
    (await clientErrors("proxy_protocol_malformed")) >= malformedBefore + 2 ? true : undefined,
  );
  assert.equal(refusals("proxy_protocol_malformed"), 2, "each truncated header logged once");
  assert.equal(refusals("proxy_protocol_timeout"), 0, "nothing waited for the timeout");
  assert.equal(await clientErrors("proxy_protocol_timeout"), 0);
});

test("a complete header then FIN, unknown v2 TLVs and LOCAL are served", async () => {
  const get = "GET /pp HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  // v2 PROXY TCP4 198.51.100.9:5555 with two TLVs of types no balancer sends (0xEE, 0xEF).
  const tlvs = Buffer.from([0xee, 0, 3, 1, 2, 3, 0xef, 0, 0]);
  const addr = Buffer.from([198, 51, 100, 9, 127, 0, 0, 1, 0x15, 0xb3, 0x1f, 0x90]);
  const body = Buffer.concat([addr, tlvs]);
  const v2 = Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, body.length]), body]);
  const local = Buffer.concat([SIG, Buffer.from([0x20, 0x00, 0, 0])]);
  const [headerFin, withTlvs, localCmd] = await Promise.all([
    session(HEADERS_MS, (s) => s.end("PROXY TCP4 203.0.113.7 127.0.0.1 4000 80\r\n")),
    session(HEADERS_MS, (s) => s.write(Buffer.concat([v2, Buffer.from(get)]))),
    session(HEADERS_MS, (s) => s.write(Buffer.concat([local, Buffer.from(get)]))),
  ]);
  assert.ok(
    headerFin.closedMs >= 0 && headerFin.closedMs < HEADERS_MS / 2,
    `header+FIN: ${headerFin.closedMs}`,
  );
  assert.match(withTlvs.reply, /^HTTP\/1\.1 200 [\s\S]*"xff":"198\.51\.100\.9"/);
  assert.match(localCmd.reply, /^HTTP\/1\.1 200 [\s\S]*"xff":"127\.0\.0\.1"/);
});
