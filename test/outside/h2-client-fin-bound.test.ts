// Tried from the outside: an HTTP/2 client's bare FIN (no GOAWAY) while a call is in flight, on
// h2c and on h2 over TLS. The two differed: h2c let open streams finish for a fixed 5 s, while
// over TLS the FIN closed the connection at once (the TLS listener's sockets were not half-open)
// and the call was cut. Now both follow proxy/server/h2-client-fin.ts alike, and the bound is
// listen.timeouts.keepAlive (here 30 s) rather than a constant: a call the member answers 8 s
// after the FIN (past the old 5 s) is answered on both. A bound that still cuts is in
// test/outside/h2-client-drop.test.ts (keepAlive 2 s there).
// Real shardgate processes, a node:http2 member, node:http2 clients over net/tls sockets, loopback.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type ClientHttp2Session, connect as h2Connect } from "node:http2";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { EMPTY_MESSAGE, h2cPoolConfig } from "../support/h2-fixture.js";
import { type FlowUpstream, startFlowUpstream } from "../support/h2-flow-upstream.js";
import { seedNote, testSeed } from "../support/prng.js";
import { eventually, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";

/** When the member answers, after the request: past the old fixed 5 s bound. */
const ANSWER_AFTER_MS = 8_000;
/** Far past the answer, far below the listener's other timeouts (120 s). */
const DEADLINE_MS = 60_000;

/** Each listener's own member: the two cases run side by side and each watches its member's streams. */
let plainUp: FlowUpstream;
let tlsUp: FlowUpstream;
let plain: RunningShardgate;
let tls: RunningShardgate;
let certDir: string;
let ca: Buffer;
const seed = testSeed(0x0f1_b0d);

function finConfig(memberPort: number): string {
  const yaml = h2cPoolConfig([{ id: "g1", port: memberPort }], { response: "120s", request: "120s" }).replace(
    "keepAlive: 120s",
    "keepAlive: 30s",
  );
  assert.match(yaml, /keepAlive: 30s/);
  return yaml;
}

before(async () => {
  plainUp = await startFlowUpstream();
  tlsUp = await startFlowUpstream();
  plain = await startShardgate(finConfig(plainUp.port));
  certDir = mkdtempSync(join(tmpdir(), "sg-h2fin-"));
  makeCa(certDir);
  issueCert(certDir, "leaf", "127.0.0.1", "IP:127.0.0.1");
  ca = readFileSync(join(certDir, "ca.pem"));
  tls = await startShardgate(
    finConfig(tlsUp.port).replace(
      "  admin: 127.0.0.1:0\n",
      `  admin: 127.0.0.1:0\n  tls: { cert: "${join(certDir, "leaf.pem")}", key: "${join(certDir, "leaf.key")}" }\n`,
    ),
  );
});

after(async () => {
  await stopAll();
  await plainUp?.close();
  await tlsUp?.close();
  if (certDir !== undefined) rmSync(certDir, { recursive: true, force: true });
});

interface Outcome {
  status: number;
  bytes: number;
  grpcStatus: string | undefined;
  ended: boolean;
  error?: string;
}

function call(session: ClientHttp2Session, path: string, key: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const o: Outcome = { status: 0, bytes: 0, grpcStatus: undefined, ended: false };
    const st = session.request(
      {
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        "x-user-id": key,
      },
      { endStream: false },
    );
    st.on("response", (h) => {
      o.status = Number(h[":status"]);
    });
    st.on("trailers", (t) => {
      o.grpcStatus = t["grpc-status"] as string | undefined;
    });
    st.on("data", (d: Buffer) => {
      o.bytes += d.length;
    });
    st.on("end", () => {
      o.ended = true;
    });
    st.on("error", (e: Error) => {
      o.error = e.message;
    });
    st.on("close", () => resolve(o));
    st.end(EMPTY_MESSAGE);
  });
}

// Each case waits for its member's answer, ANSWER_AFTER_MS after the FIN, on its own listener
// and member: they run side by side.
describe("a bare FIN from an HTTP/2 client with a call in flight", { concurrency: true }, () => {
  for (const [name, sg, member, open] of [
    [
      "h2c",
      () => plain,
      () => plainUp,
      (port: number): { sock: Socket; url: string } => ({
        sock: connect(port, "127.0.0.1"),
        url: `http://127.0.0.1:${port}`,
      }),
    ],
    [
      "h2 over TLS (ALPN)",
      () => tls,
      () => tlsUp,
      (port: number): { sock: Socket; url: string } => ({
        sock: tlsConnect({ port, host: "127.0.0.1", ca, ALPNProtocols: ["h2"] }),
        url: `https://127.0.0.1:${port}`,
      }),
    ],
  ] as const) {
    test(`${name}: a bare FIN with a call in flight: the call is answered within listen.timeouts.keepAlive`, async () => {
      const port = Number(new URL(sg().httpUrl).port);
      const { sock, url } = open(port);
      sock.on("error", () => {});
      const session = h2Connect(url, { createConnection: () => sock });
      session.on("error", () => {});
      try {
        await new Promise<void>((r, j) => {
          session.once("remoteSettings", () => r());
          session.once("error", j);
        });
        const up = member();
        const from = up.streams.length;
        const answer = call(session, `/quick/${ANSWER_AFTER_MS}`, `fin-${seed}-${name}`);
        await eventually(
          "the call open at the member",
          () => (up.streams.slice(from).some((s) => s.rstCode === -1) ? true : undefined),
          DEADLINE_MS,
        );
        // The client's FIN (over TLS its close_notify and FIN), no GOAWAY: it still reads.
        sock.end();
        const o = await Promise.race([
          answer,
          new Promise<Outcome>((_r, j) =>
            setTimeout(() => j(new Error(`no end within ${DEADLINE_MS} ms`)), DEADLINE_MS).unref(),
          ),
        ]);
        assert.deepEqual(
          { status: o.status, grpcStatus: o.grpcStatus, ended: o.ended, error: o.error },
          { status: 200, grpcStatus: "0", ended: true, error: undefined },
          `${JSON.stringify(o)} (${seedNote(seed)})`,
        );
        assert.ok(o.bytes > 0, JSON.stringify(o));
      } finally {
        session.destroy();
      }
    });
  }
});
