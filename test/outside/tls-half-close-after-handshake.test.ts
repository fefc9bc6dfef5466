// Tried from the outside: a TLS client whose FIN comes right behind its handshake. The TLS
// listener is not half-open during the handshake and each socket turns half-open once its
// handshake is done (proxy/server/tls-handshake-close.ts), so listen.clientHalfClose must read a
// FIN after a request exactly as it did when the whole listener was half-open. The tight case is
// the one where the switch could come too late: the client's Finished, its request, its
// close_notify and its FIN reaching the server in one segment (a relay here holds the client's
// bytes after its ClientHello and passes them on in one write with the FIN), on a fresh TLS 1.3
// handshake and on resumed TLS 1.3 and 1.2 ones (where the client's Finished is the last
// handshake flight), for HTTP/1.1 and for h2 chosen by ALPN; then the same behind a PROXY
// protocol header, and a FIN with no request at all, which must still close at once.
// Real shardgate processes, a plain HTTP member answering after 300 ms. Nothing is random.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import {
  type AddressInfo,
  createServer as createNetServer,
  connect as netConnect,
  type Socket,
} from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type ConnectionOptions, connect, type TLSSocket } from "node:tls";
import { frame, literal } from "../support/h2-frames.js";
import { tearDownOutside } from "../support/outside-teardown.js";
import { seedNote, testSeed } from "../support/prng.js";
import {
  eventually,
  poolConfig,
  type RunningShardgate,
  startShardgate,
} from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";

// Nothing here is random; the seed is printed for the suite's convention.
const SEED = testSeed(20_261_206);
/** Bounds every wait for an answer or a close. */
const DEADLINE_MS = 20_000;
/** A FIN with no request in flight closes the connection far sooner than any timeout. */
const PROMPT_CLOSE_MS = 2_000;

type Mode = "answer" | "abort" | "answer-proxy";
let member: Server;
let certDir: string;
let ca: Buffer;
const running = new Map<Mode, RunningShardgate>();
const sockets = new Set<Socket>();

before(async () => {
  member = createServer((_req, res) => {
    setTimeout(() => res.end("late-ok"), 300);
  });
  await new Promise<void>((r) => member.listen(0, "127.0.0.1", r));
  certDir = mkdtempSync(join(tmpdir(), "sg-tls-fin-"));
  makeCa(certDir);
  issueCert(certDir, "leaf", "127.0.0.1", "IP:127.0.0.1");
  ca = readFileSync(join(certDir, "ca.pem"));
  for (const mode of ["answer", "abort", "answer-proxy"] as const) {
    const lines = [
      `  clientHalfClose: ${mode === "abort" ? "abort" : "answer"}`,
      `  tls: { cert: "${join(certDir, "leaf.pem")}", key: "${join(certDir, "leaf.key")}" }`,
      mode === "answer-proxy" ? '  proxyProtocol: { trusted: ["127.0.0.0/8"] }' : "",
    ].filter((l) => l !== "");
    const yaml = poolConfig({
      members: [{ id: "m1", port: (member.address() as AddressInfo).port }],
      accessLog: true,
    }).replace("  admin: 127.0.0.1:0\n", `  admin: 127.0.0.1:0\n${lines.join("\n")}\n`);
    running.set(mode, await startShardgate(yaml));
  }
});

after(() => tearDownOutside({ sockets, member, dir: certDir }));

function sg(mode: Mode): RunningShardgate {
  const s = running.get(mode);
  assert.ok(s !== undefined, `${mode} running`);
  return s;
}

const portOf = (s: RunningShardgate): number => Number(new URL(s.httpUrl).port);

/** A raw socket to `port` that has sent a PROXY v1 header. */
function proxied(port: number): Socket {
  const raw = netConnect(port, "127.0.0.1");
  sockets.add(raw);
  raw.on("error", () => undefined);
  raw.write("PROXY TCP4 203.0.113.7 127.0.0.1 4000 443\r\n");
  return raw;
}

function secure(
  port: number,
  opts: ConnectionOptions,
  onSocket?: (s: TLSSocket) => void,
): Promise<TLSSocket> {
  const s = connect({ port, host: "127.0.0.1", ca, ...opts });
  sockets.add(s);
  onSocket?.(s);
  s.on("error", () => undefined);
  return new Promise((resolve, reject) => {
    s.once("secureConnect", () => resolve(s));
    s.once("error", reject);
  });
}

/** Every byte until the server closes (bounded). */
function readToClose(s: TLSSocket, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  s.on("data", (d: Buffer) => parts.push(d));
  return new Promise((resolve, reject) => {
    if (s.destroyed) return resolve(Buffer.concat(parts));
    const t = setTimeout(
      () => reject(new Error(`${what}: no close within ${DEADLINE_MS} ms (${seedNote(SEED)})`)),
      DEADLINE_MS,
    );
    s.once("close", () => {
      clearTimeout(t);
      resolve(Buffer.concat(parts));
    });
  });
}

/** A session to resume with, from a finished exchange on its own connection. */
async function sessionOf(port: number, version: "TLSv1.2" | "TLSv1.3", viaProxy: boolean): Promise<Buffer> {
  let session: Buffer | undefined;
  // TLS 1.2 gives its session during the handshake: listened for from the start.
  const s = await secure(
    port,
    {
      ALPNProtocols: ["http/1.1"],
      maxVersion: version,
      minVersion: version,
      socket: viaProxy ? proxied(port) : undefined,
    },
    (c) =>
      c.on("session", (b: Buffer) => {
        session = b;
      }),
  );
  s.end("GET /warm HTTP/1.1\r\nhost: t\r\nx-user-id: k\r\nconnection: close\r\n\r\n");
  await readToClose(s, "the warm-up exchange");
  assert.ok(session !== undefined, `a session to resume (${seedNote(SEED)})`);
  return session;
}

/** Passes the ClientHello on, then holds the client's bytes and sends them in one write with its FIN. */
async function coalescingRelay(target: number): Promise<{ port: number; close: () => void }> {
  const held = new Set<Socket>();
  // Half-open: the client's FIN must not close the way back before the answer.
  const relay = createNetServer({ allowHalfOpen: true }, (c) => {
    const up = netConnect(target, "127.0.0.1");
    held.add(c).add(up);
    c.on("error", () => undefined);
    up.on("error", () => undefined);
    up.on("data", (d: Buffer) => c.write(d));
    up.on("end", () => c.end());
    up.on("close", () => c.destroy());
    const later: Buffer[] = [];
    let first = true;
    c.on("data", (d: Buffer) => {
      if (first) up.write(d);
      else later.push(d);
      first = false;
    });
    c.on("end", () => up.end(Buffer.concat(later)));
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
  return {
    port: (relay.address() as AddressInfo).port,
    close: () => {
      for (const s of held) s.destroy();
      relay.close();
    },
  };
}

const accessLine = (s: RunningShardgate, path: string) =>
  eventually(`the access line of ${path}`, () =>
    s.proc.lines.find((l) => l.type === "access" && l.path === path),
  );

const h1Get = (path: string): string => `GET ${path} HTTP/1.1\r\nhost: t\r\nx-user-id: k\r\n\r\n`;

/** The client preface, empty SETTINGS and one GET that ends its stream. */
function h2Get(path: string): Buffer {
  const block = Buffer.concat([
    literal(":method", "GET"),
    literal(":scheme", "https"),
    literal(":path", path),
    literal(":authority", "t"),
    literal("x-user-id", "k"),
  ]);
  return Buffer.concat([
    Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    frame(0x4, 0, 0),
    frame(0x1, 0x5 /* END_STREAM | END_HEADERS */, 1, block),
  ]);
}

type Handshake = { version: "TLSv1.2" | "TLSv1.3"; resumed: boolean };
const TIGHT: readonly Handshake[] = [
  { version: "TLSv1.3", resumed: false },
  { version: "TLSv1.3", resumed: true },
  // A full TLS 1.2 handshake ends with the server's Finished, so the client cannot coalesce.
  { version: "TLSv1.2", resumed: true },
];

/** Through the relay: the handshake's last client flight, `request` and the FIN in one segment. */
async function inOneSegment(
  mode: Mode,
  h: Handshake,
  alpn: "http/1.1" | "h2",
  request: string | Buffer,
): Promise<Buffer> {
  const s = sg(mode);
  const relay = await coalescingRelay(portOf(s));
  try {
    const session = h.resumed ? await sessionOf(portOf(s), h.version, false) : undefined;
    const c = await secure(relay.port, {
      ALPNProtocols: [alpn],
      maxVersion: h.version,
      minVersion: h.version,
      session,
    });
    assert.equal(c.isSessionReused(), h.resumed, `resumed as asked (${seedNote(SEED)})`);
    const got = readToClose(c, "the answer");
    c.end(request);
    return await got;
  } finally {
    relay.close();
  }
}

for (const h of TIGHT) {
  const name = `${h.version}${h.resumed ? " resumed" : ""}`;

  test(`${name}, clientHalfClose answer: Finished, request, close_notify and FIN in one segment are answered`, async () => {
    const path = `/one-answer-${h.version}-${h.resumed}`;
    const got = (await inOneSegment("answer", h, "http/1.1", h1Get(path))).toString("latin1");
    assert.match(got, /^HTTP\/1\.1 200 /, `${JSON.stringify(got)} (${seedNote(SEED)})`);
    assert.ok(got.endsWith("late-ok"), JSON.stringify(got));
    assert.equal((await accessLine(sg("answer"), path)).status, 200);
  });

  test(`${name}, clientHalfClose abort: the same segment cuts the request (499), nothing answered`, async () => {
    const path = `/one-abort-${h.version}-${h.resumed}`;
    const got = await inOneSegment("abort", h, "http/1.1", h1Get(path));
    assert.equal(got.length, 0, `${JSON.stringify(got.toString("latin1"))} (${seedNote(SEED)})`);
    assert.equal((await accessLine(sg("abort"), path)).status, 499);
  });

  test(`${name}, h2 by ALPN: Finished, preface, a GET with END_STREAM and FIN in one segment are answered`, async () => {
    const path = `/one-h2-${h.version}-${h.resumed}`;
    const got = await inOneSegment("abort", h, "h2", h2Get(path));
    assert.equal((await accessLine(sg("abort"), path)).status, 200, seedNote(SEED));
    assert.ok(got.includes("late-ok"), "the answer's body reached the client");
  });
}

for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
  for (const resumed of [false, true]) {
    test(`PROXY protocol then ${version}${resumed ? " resumed" : ""}, clientHalfClose answer: a request then the FIN is answered`, async () => {
      const s = sg("answer-proxy");
      const port = portOf(s);
      const session = resumed ? await sessionOf(port, version, true) : undefined;
      const c = await secure(port, {
        ALPNProtocols: ["http/1.1"],
        maxVersion: version,
        minVersion: version,
        session,
        socket: proxied(port),
      });
      assert.equal(c.isSessionReused(), resumed, `resumed as asked (${seedNote(SEED)})`);
      const path = `/proxied-${version}-${resumed}`;
      const got = readToClose(c, "the answer");
      c.end(h1Get(path));
      const text = (await got).toString("latin1");
      assert.match(text, /^HTTP\/1\.1 200 /, `${JSON.stringify(text)} (${seedNote(SEED)})`);
      assert.equal((await accessLine(s, path)).status, 200);
    });
  }
}

for (const alpn of ["http/1.1", "h2"] as const) {
  test(`${alpn}: a FIN right after the handshake with no request closes the connection at once`, async () => {
    const c = await secure(portOf(sg("abort")), { ALPNProtocols: [alpn] });
    const t0 = performance.now();
    const closed = readToClose(c, "the close");
    c.end();
    await closed;
    const ms = performance.now() - t0;
    assert.ok(ms < PROMPT_CLOSE_MS, `closed after ${Math.round(ms)} ms (${seedNote(SEED)})`);
  });
}
