// Tried from the outside: a client that leaves in the middle of its TLS handshake. The TLS
// listener is half-open (so a client's FIN after its request is read by listen.clientHalfClose),
// and Node applied that to the handshake too: a FIN before the ClientHello, or after it with the
// handshake unfinished, left the connection open until listen.timeouts.headers ended the
// handshake, holding a slot of listen.maxConnections and its 32 KiB in the memory estimate
// (tls-memory.ts) for nothing: a client gone cannot finish a handshake. Now such a FIN frees the
// slot at once, as a reset already did (proxy/server/proxy-server.ts).
//
// Every listener kind, each in a real shardgate process: plain, TLS (HTTP/1.1 only), TLS with h2
// offered by ALPN, and a PROXY-protocol listener in front of TLS. On each, a batch of clients
// leaves in three ways: FIN before any handshake byte, FIN after the ClientHello, and a reset
// after the ClientHello (on the plain port: the same with part of a request head). The
// connection gauge and the memory estimate for TLS connections (shardgate_memory_tls_estimate_bytes:
// the usage ratio itself moves as much with the handshakes' garbage) must fall back to their
// idle values long before the headers timeout. Bounded in count and time; every socket is closed, every process stopped.

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createNetServer, connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { tearDownOutside } from "../support/outside-teardown.js";
import { seedNote, testSeed } from "../support/prng.js";
import {
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
} from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { eventually } from "../support/wait.js";

// Nothing here is random; the seed is printed for the suite's convention.
const SEED = testSeed(20_261_206);
/** Long, so that a slot given back at the handshake timeout cannot pass for one given back at the FIN. */
const HEADERS_MS = 120_000;
/** How long the slots may take to come back: far under HEADERS_MS. */
const RELEASE_MS = 15_000;
/** Clients per way of leaving (3 ways): 120 TLS sockets held would be ~3.8 MB of estimate. */
const PER_WAY = 40;

type Kind = "plain" | "tls" | "h2" | "proxy-tls";
const KINDS: readonly Kind[] = ["plain", "tls", "h2", "proxy-tls"];

const dir = mkdtempSync(join(tmpdir(), "sg-handshake-fin-"));
const running = new Map<Kind, RunningShardgate>();
const sockets = new Set<Socket>();
let member: Server | undefined;
/** A real ClientHello per ALPN offer, taken from Node's own TLS client. */
const hellos = new Map<string, Buffer>();

function listenYaml(kind: Kind): string {
  const tls = `  tls: { cert: ${join(dir, "leaf.pem")}, key: ${join(dir, "leaf.key")} }\n`;
  const lines = [
    "  maxConnections: 1000",
    `  timeouts: { headers: ${HEADERS_MS}ms, request: ${2 * HEADERS_MS}ms }`,
    kind === "tls" ? "  http2: { enabled: false }" : "",
    kind === "proxy-tls" ? '  proxyProtocol: { trusted: ["127.0.0.0/8"] }' : "",
  ].filter((l) => l !== "");
  return `${kind === "plain" ? "" : tls}${lines.join("\n")}\n`;
}

function configFor(kind: Kind, memberPort: number): string {
  return poolConfig({ members: [{ id: "m1", port: memberPort }], accessLog: false }).replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0\n${listenYaml(kind)}`,
  );
}

/** The first flight Node's TLS client sends (its ClientHello), offering `alpn`. */
function captureHello(alpn: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const catcher = createNetServer((c) => {
      c.once("data", (d: Buffer) => {
        resolve(d);
        c.destroy();
        catcher.close();
      });
    });
    catcher.on("error", reject);
    catcher.listen(0, "127.0.0.1", () => {
      const port = (catcher.address() as { port: number }).port;
      const client = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ALPNProtocols: alpn });
      client.on("error", () => undefined);
      client.on("close", () => client.destroy());
    });
  });
}

before(async () => {
  makeCa(dir);
  issueCert(dir, "leaf", "localhost", "DNS:localhost,IP:127.0.0.1");
  hellos.set("http/1.1", await captureHello(["http/1.1"]));
  hellos.set("h2", await captureHello(["h2", "http/1.1"]));
  const m = createHttpServer((_req, res) => res.end("ok"));
  member = m;
  await new Promise<void>((resolve) => m.listen(0, "127.0.0.1", resolve));
  const memberPort = (m.address() as { port: number }).port;
  for (const kind of KINDS) running.set(kind, await startShardgate(configFor(kind, memberPort)));
});

after(() => tearDownOutside({ sockets, member, dir }));

/** The connection gauge and the memory estimate for open TLS connections. */
async function gauges(sg: RunningShardgate): Promise<{ open: number; tlsBytes: number }> {
  const text = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  const open = metricValue(text, "shardgate_downstream_connections_open", {});
  const tlsBytes = metricValue(text, "shardgate_memory_tls_estimate_bytes", {});
  assert.ok(open !== undefined && tlsBytes !== undefined, "both gauges in /metrics");
  return { open, tlsBytes };
}

type Way = "fin-before-hello" | "fin-after-hello" | "reset-after-hello";
const WAYS: readonly Way[] = ["fin-before-hello", "fin-after-hello", "reset-after-hello"];

/** What a client of `kind` sends before it leaves: a PROXY header, then the first handshake bytes. */
function opening(kind: Kind, way: Way): Buffer {
  const proxy =
    kind === "proxy-tls" ? Buffer.from("PROXY TCP4 203.0.113.7 127.0.0.1 4000 443\r\n") : Buffer.alloc(0);
  if (way === "fin-before-hello") return proxy;
  const first =
    kind === "plain"
      ? Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n")
      : (hellos.get(kind === "h2" ? "h2" : "http/1.1") as Buffer);
  return Buffer.concat([proxy, first]);
}

/** Connects, sends the opening, waits until the server has read it (or a moment), and leaves. */
function leave(port: number, kind: Kind, way: Way): Promise<void> {
  return new Promise((resolve) => {
    const s = netConnect(port, "127.0.0.1");
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => {
      sockets.delete(s);
      resolve();
    });
    s.on("data", () => undefined);
    s.on("connect", () => {
      const bytes = opening(kind, way);
      if (bytes.length > 0) s.write(bytes);
      // The server answers a ClientHello with its own flight: waiting for it means the server
      // has the handshake in progress when the client leaves. The plain port answers nothing yet.
      const go = (): void => {
        if (way === "reset-after-hello") s.resetAndDestroy();
        else s.end();
        resolve();
      };
      if (way !== "fin-before-hello" && kind !== "plain") s.once("data", go);
      else setTimeout(go, 50);
    });
  });
}

for (const kind of KINDS) {
  test(`${kind}: clients leaving mid-handshake (FIN before or after the ClientHello, reset) give their slots back at once`, async () => {
    const sg = running.get(kind) as RunningShardgate;
    const port = Number(new URL(sg.httpUrl).port);
    await eventually("an idle listener", async () => {
      const g = await gauges(sg);
      return g.open === 0 && g.tlsBytes === 0 ? true : undefined;
    });
    const clients = PER_WAY * WAYS.length;
    const note = `${kind}, ${clients} clients; ${seedNote(SEED)}`;
    const t0 = performance.now();
    await Promise.all(WAYS.flatMap((way) => Array.from({ length: PER_WAY }, () => leave(port, kind, way))));
    let last = { open: -1, tlsBytes: -1 };
    await eventually(
      `the connection gauge and the TLS memory estimate back to 0 (${note}; last ${JSON.stringify(last)})`,
      async () => {
        last = await gauges(sg);
        return last.open === 0 && last.tlsBytes === 0 ? true : undefined;
      },
      RELEASE_MS,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last read ${JSON.stringify(last)}`);
    });
    const ms = performance.now() - t0;
    assert.ok(ms < HEADERS_MS / 4, `slots came back after ${Math.round(ms)} ms, not at the FIN (${note})`);
    assert.equal(sg.proc.exit, undefined, `shardgate exited: ${sg.proc.output()}`);
  });
}
