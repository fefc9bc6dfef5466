// Tried from the outside on the TLS listener: a client that connects and never sends its
// ClientHello, or sends a part of it and stalls (a slow-handshake flood), held its connection
// for Node's default handshake timeout, 120 s, whatever listen.timeouts.headers said (2 s
// here: still open after 15 s), each one a slot of listen.maxConnections that the cap never
// reclaims (a handshake in progress is a fresh connection). Now the handshake gets the headers
// budget (proxy/server/proxy-server.ts): closed, counted as tls_handshake_timeout. Held, kept
// here as guards: a PROXY header and the ClientHello in one write (as balancers send them)
// handshake and serve with the header's client; an unknown SNI name gets the default pair.
// Real shardgate process, raw sockets on loopback.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { after, before, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { tearDownOutside } from "../support/outside-teardown.js";
import {
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
} from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const HEADERS_MS = 1000;
const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../../test/proxy/fixtures/${name}`, import.meta.url));

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
  tls: { cert: ${fixture("test-cert.pem")}, key: ${fixture("test-key.pem")} }
  proxyProtocol: { trusted: ["127.0.0.0/8"] }
  timeouts: { headers: ${HEADERS_MS}ms }
`,
  );
  sg = await startShardgate(yaml);
  port = Number(new URL(sg.httpUrl).port);
});

after(() => tearDownOutside({ member: upstream }));

/** Opens a raw socket, lets `send` write, resolves with how long the peer took to close it (-1: not by `ms`). */
function closedWithin(ms: number, send: (s: Socket) => void): Promise<number> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    const t0 = performance.now();
    const timer = setTimeout(() => {
      s.destroy();
      resolve(-1);
    }, ms);
    s.on("error", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve(performance.now() - t0);
    });
    s.on("connect", () => send(s));
  });
}

/** A TLS exchange over a socket whose first write carries `prefix` (a PROXY header) before the ClientHello. */
function tlsGet(prefix: Buffer, servername: string | undefined): Promise<{ body: string; subject: string }> {
  return new Promise((resolve, reject) => {
    const raw = connect(port, "127.0.0.1");
    let first = true;
    const carrier = new Duplex({
      write(chunk: Buffer, _enc, cb) {
        raw.write(first ? Buffer.concat([prefix, chunk]) : chunk, cb);
        first = false;
      },
      read() {},
    });
    raw.on("data", (c) => carrier.push(c));
    raw.on("end", () => carrier.push(null));
    raw.on("error", reject);
    const s = tlsConnect({ socket: carrier, servername, rejectUnauthorized: false });
    let text = "";
    let subject = "";
    s.on("secureConnect", () => {
      subject = String(s.getPeerCertificate().subject?.CN ?? "");
      s.write("GET /tls HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    });
    s.on("data", (d) => {
      text += d.toString("latin1");
    });
    s.on("error", reject);
    // The server closes after its answer (Connection: close): the raw socket's close ends it.
    raw.on("close", () => {
      s.destroy();
      resolve({ body: text, subject });
    });
  });
}

async function clientErrors(code: string): Promise<number> {
  const text = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  return metricValue(text, "shardgate_downstream_client_errors_total", { code }) ?? 0;
}
const handshakeTimeouts = (): Promise<number> => clientErrors("tls_handshake_timeout");

test("a TLS client that never completes its handshake is closed at the headers timeout, not Node's 120 s", async () => {
  const header = Buffer.from("PROXY TCP4 203.0.113.5 127.0.0.1 4000 443\r\n");
  // A ClientHello's first bytes (record header, handshake type): a handshake that stalls.
  const partialHello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]);
  const limit = 15 * HEADERS_MS;
  const cases: Array<[string, (s: Socket) => void]> = [
    ["PROXY header, then nothing", (s) => s.write(header)],
    ["PROXY header and a partial ClientHello", (s) => s.write(Buffer.concat([header, partialHello]))],
  ];
  const before = await handshakeTimeouts();
  const waits = await Promise.all(cases.map(([, send]) => closedWithin(limit, send)));
  for (let i = 0; i < cases.length; i++) {
    assert.ok(
      waits[i] >= 0,
      `${cases[i][0]}: still open after ${limit} ms (headers timeout ${HEADERS_MS} ms)`,
    );
    assert.ok(
      waits[i] >= 0.5 * HEADERS_MS,
      `${cases[i][0]}: closed after ${Math.round(waits[i])} ms, before the budget`,
    );
  }
  await eventually("the handshake timeouts counted", async () =>
    (await handshakeTimeouts()) >= before + cases.length ? true : undefined,
  );
  // The listener still serves a well-behaved client, the PROXY header and the ClientHello
  // arriving in one segment; an unknown SNI name gets the default certificate.
  const ok = await tlsGet(header, "unknown.example");
  assert.match(ok.body, /^HTTP\/1\.1 200 /, ok.body.slice(0, 120));
  assert.match(ok.body, /"xff":"203\.0\.113\.5"/);
  assert.notEqual(ok.subject, "");
});

test("a handshake that fails (plain HTTP on the TLS port) is closed at once and counted tls_handshake_failed", async () => {
  const header = Buffer.from("PROXY TCP4 203.0.113.6 127.0.0.1 4001 443\r\n");
  const before = await clientErrors("tls_handshake_failed");
  const wait = await closedWithin(10 * HEADERS_MS, (s) =>
    s.write(Buffer.concat([header, Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n\r\n")])),
  );
  assert.ok(wait >= 0, "the plain-HTTP client is closed");
  assert.ok(wait < 0.5 * HEADERS_MS, `closed after ${Math.round(wait)} ms: at once, not at the timeout`);
  await eventually("the failed handshake counted", async () =>
    (await clientErrors("tls_handshake_failed")) >= before + 1 ? true : undefined,
  );
});
