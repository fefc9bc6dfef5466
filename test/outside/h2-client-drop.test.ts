// Tried from the outside: an HTTP/2 client that drops its connection with calls open. Node's
// http2 client's session.destroy() sends a GOAWAY (NO_ERROR) and a FIN, and no RST_STREAM for
// its open streams. shardgate's plain listener is half-open (listen.clientHalfClose), so on h2c
// nothing but the idle timeout (60 s by default, 120 s here) closed such a connection: its
// calls and their member streams stayed open, with no access line. Now the client's GOAWAY
// followed by its FIN closes the connection at once, and a bare FIN after a short bound
// (proxy/server/h2-client-fin.ts); each call is reset at the member and logged (499, or the
// status sent with downstream_disconnected). The FIN-right-after-the-request answer
// (test/outside/half-close.test.ts) is unchanged. h2 over TLS closed at once before too (its
// socket was not half-open; now it is, test/outside/h2-client-fin-bound.test.ts); it is kept
// here as a guard, since both share the session code.
// grpc-js's client.close() is no drop: its open calls keep running (against a plain Node
// http2 server too), so their member streams rightly stay open until the calls end.
// Real shardgate processes (h2c and h2 over TLS), a node:http2 member that holds its calls,
// node:http2 clients, loopback.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type ClientHttp2Session, connect as h2Connect } from "node:http2";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { EMPTY_MESSAGE, h2cPoolConfig } from "../support/h2-fixture.js";
import { type FlowStream, type FlowUpstream, startFlowUpstream } from "../support/h2-flow-upstream.js";
import { seedNote, testSeed } from "../support/prng.js";
import {
  eventually,
  type LogLine,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";

/** Far below the listener's idle timeout (120 s): only a failure waits this long. */
const DEADLINE_MS = 30_000;

let up: FlowUpstream;
let plain: RunningShardgate;
let tls: RunningShardgate;
let certDir: string;
let ca: Buffer;
const seed = testSeed(0x5eed_d20b);
let serial = 0;

before(async () => {
  up = await startFlowUpstream();
  // The bare-FIN bound is listen.timeouts.keepAlive (h2-client-fin.ts): short here, so a call
  // that outlives it is cut well within DEADLINE_MS.
  const yaml = h2cPoolConfig([{ id: "g1", port: up.port }], { response: "120s", request: "120s" }).replace(
    "keepAlive: 120s",
    "keepAlive: 2s",
  );
  assert.match(yaml, /keepAlive: 2s/);
  plain = await startShardgate(yaml);
  certDir = mkdtempSync(join(tmpdir(), "sg-h2drop-"));
  makeCa(certDir);
  issueCert(certDir, "leaf", "127.0.0.1", "IP:127.0.0.1");
  ca = readFileSync(join(certDir, "ca.pem"));
  const tlsYaml = yaml.replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0\n  tls: { cert: "${join(certDir, "leaf.pem")}", key: "${join(certDir, "leaf.key")}" }\n`,
  );
  tls = await startShardgate(tlsYaml);
});

after(async () => {
  await stopAll();
  await up?.close();
  if (certDir !== undefined) rmSync(certDir, { recursive: true, force: true });
});

/** The member's streams opened since `from` (an index into up.streams). */
function since(from: number): FlowStream[] {
  return up.streams.slice(from);
}

/**
 * Opens a held call (/hold: answered 200 and one message, then held) and an unanswered one
 * (/slow) on `session`.
 */
function openCalls(session: ClientHttp2Session): void {
  for (const path of ["/hold", "/slow"]) {
    const st = session.request(
      {
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        "x-user-id": `drop-${seed}`,
      },
      { endStream: false },
    );
    st.on("error", () => {});
    st.on("data", () => {});
    st.end(EMPTY_MESSAGE);
  }
}

/** Both calls opened since `from` are open at the member. */
function bothOpen(from: number): true | undefined {
  const s = since(from);
  return s.length === 2 && s.every((x) => x.rstCode === -1) ? true : undefined;
}

/** How many access lines `sg` wrote for /hold and /slow so far. */
function accessCounts(sg: RunningShardgate): { hold: number; slow: number } {
  const n = (path: string): number =>
    sg.proc.lines.filter((l) => l.type === "access" && l.path === path).length;
  return { hold: n("/hold"), slow: n("/slow") };
}

/** The access line for `path` after the first `n` (the calls here are one at a time per path). */
function nthAccessLine(sg: RunningShardgate, path: string, n: number): Promise<LogLine> {
  return eventually(
    `access line ${n + 1} of ${path}`,
    () => sg.proc.lines.filter((l) => l.type === "access" && l.path === path)[n],
    DEADLINE_MS,
  );
}

async function expectClosedAndLogged(
  sg: RunningShardgate,
  from: number,
  tag: string,
  before: { hold: number; slow: number },
): Promise<void> {
  await eventually(
    `the member's streams of ${tag} closed (${seedNote(seed)})`,
    () => (since(from).every((x) => x.rstCode !== -1) ? true : undefined),
    DEADLINE_MS,
  );
  // /hold got its 200 head out: the status sent stays, with the disconnection named.
  const hold = await nthAccessLine(sg, "/hold", before.hold);
  assert.equal(hold.status, 200, JSON.stringify(hold));
  assert.equal(hold.error, "downstream_disconnected", JSON.stringify(hold));
  const slow = await nthAccessLine(sg, "/slow", before.slow);
  assert.equal(slow.status, 499, JSON.stringify(slow));
}

for (const [name, sg, url] of [
  ["h2c", () => plain, () => plain.httpUrl],
  ["h2 over TLS (ALPN)", () => tls, () => `https://127.0.0.1:${new URL(tls.httpUrl).port}`],
] as const) {
  test(`${name}: a node:http2 client destroys its session (GOAWAY, FIN) with calls open: they are reset at the member and logged`, async () => {
    const tag = `${name.slice(0, 3)}-${seed}-${++serial}`;
    const from = up.streams.length;
    const counts = accessCounts(sg());
    const session = h2Connect(url(), { ca });
    session.on("error", () => {});
    await new Promise<void>((r, j) => {
      session.once("remoteSettings", () => r());
      session.once("error", j);
    });
    openCalls(session);
    await eventually("both calls open at the member", () => bothOpen(from), DEADLINE_MS);
    session.destroy();
    await expectClosedAndLogged(sg(), from, tag, counts);
  });
}

test("h2c: a client's bare FIN (no GOAWAY) with calls open: they are reset at the member and logged after the short bound", async () => {
  // A FIN right after the request frames is still answered (test/outside/half-close.test.ts);
  // calls that outlive the bound are cut, as a client that can send no WINDOW_UPDATE, PING
  // or RST_STREAM any more cannot be told from one that left.
  const tag = `fin-${seed}-${++serial}`;
  const from = up.streams.length;
  const counts = accessCounts(plain);
  const port = Number(new URL(plain.httpUrl).port);
  const sock = connect(port, "127.0.0.1");
  const session = h2Connect(`http://127.0.0.1:${port}`, { createConnection: () => sock });
  session.on("error", () => {});
  try {
    await new Promise<void>((r, j) => {
      session.once("remoteSettings", () => r());
      session.once("error", j);
    });
    openCalls(session);
    await eventually("both calls open at the member", () => bothOpen(from), DEADLINE_MS);
    sock.end();
    await expectClosedAndLogged(plain, from, tag, counts);
  } finally {
    session.destroy();
  }
});
