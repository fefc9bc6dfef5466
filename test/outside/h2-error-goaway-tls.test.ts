// The GOAWAY a real node:http2 client reads over TLS when shardgate ends its session for abuse
// (proxy/server/h2-error-goaway.ts): a PING flood nghttp2 ends by its outbound-queue limit, and a
// rapid reset the reset guard ends (h2-reset-guard.ts). Both got GOAWAY ENHANCE_YOUR_CALM over
// h2c but none over TLS: the session's 'goaway' event never fired, the client saw only the
// connection close (10 of 10 runs of each). Each client here reads as it sends, as a browser or
// a gRPC client does; each flood is bounded in frames and time, and a well-behaved client over
// TLS is served after each. The GOAWAY waits a turn over TLS; a client whose GOAWAY NO_ERROR
// came in that turn, after its resets, closed the session meanwhile, and its socket was then
// held for good (5 of 5 still open after 35 s): the last test.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type ClientHttp2Session, connect, constants } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { h2StatusOnce } from "../support/h2-client.js";
import { frame, literal } from "../support/h2-frames.js";
import { oneMemberGate } from "../support/one-member-gate.js";
import { metricValue } from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { eventually, scaled } from "../support/wait.js";

const certDir = mkdtempSync(join(tmpdir(), "sg-h2goaway-tls-"));
makeCa(certDir);
issueCert(certDir, "leaf", "127.0.0.1", "IP:127.0.0.1");
const ca = readFileSync(join(certDir, "ca.pem"));
after(() => rmSync(certDir, { recursive: true, force: true }));

const gate = oneMemberGate((yaml) =>
  yaml.replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0\n  tls: { cert: "${join(certDir, "leaf.pem")}", key: "${join(certDir, "leaf.key")}" }\n`,
  ),
);

const PINGS = 20_000;
const RESETS = 2_000;
const CLOSE_DEADLINE_MS = 10_000;

function tlsUrl(): string {
  return gate.sg.httpUrl.replace("http://", "https://");
}

interface Ending {
  /** The GOAWAY's code as the client's 'goaway' event gave it; -1 when none came. */
  goaway: number;
  closed: Promise<void>;
}

/** A client session over TLS, its GOAWAY and close recorded; destroyed after the deadline. */
async function tlsSession(options: { maxOutstandingPings?: number } = {}): Promise<{
  c: ClientHttp2Session;
  end: Ending;
}> {
  const c = connect(tlsUrl(), { ca, ...options });
  c.on("error", () => {});
  const end: Ending = {
    goaway: -1,
    closed: new Promise((resolve) => c.once("close", () => resolve())),
  };
  c.on("goaway", (code: number) => {
    if (end.goaway === -1) end.goaway = code;
  });
  await new Promise<void>((resolve, reject) => {
    c.once("remoteSettings", () => resolve());
    c.once("close", () => reject(new Error("closed before its SETTINGS")));
  });
  return { c, end };
}

/**
 * Waits for the server to close `c`; past the deadline, destroys it and fails. A client whose
 * GOAWAY was lost may never see the close at all: reset by the server's kernel while its own
 * writes were in flight, a node:http2 client stopped reading and stayed open.
 */
async function closedByServer(c: ClientHttp2Session, end: Ending, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    end.closed.then(() => true),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), scaled(CLOSE_DEADLINE_MS)))),
  ]);
  clearTimeout(timer);
  if (!closed) c.destroy();
  assert.ok(
    closed,
    `${what}: not closed after ${CLOSE_DEADLINE_MS} ms (GOAWAY code ${end.goaway}, -1: none)`,
  );
}

test("PING flood over TLS, ended by nghttp2's outbound-queue limit: the client reads GOAWAY ENHANCE_YOUR_CALM", async () => {
  // The client's own cap on PINGs awaiting an ACK (10 by default) would stop the flood first.
  const { c, end } = await tlsSession({ maxOutstandingPings: PINGS + 1 });
  let sent = 0;
  for (; sent < PINGS && !c.destroyed; sent++) c.ping(Buffer.alloc(8), () => {});
  await closedByServer(c, end, "PING flood");
  assert.equal(
    end.goaway,
    constants.NGHTTP2_ENHANCE_YOUR_CALM,
    `GOAWAY code ${end.goaway} (-1: none) after ${sent} PINGs\n${gate.sg.proc.output()}`,
  );
  assert.equal(await h2StatusOnce(tlsUrl(), undefined, ca), 200);
});

test("rapid reset over TLS, from a client still resetting: it reads GOAWAY ENHANCE_YOUR_CALM", async () => {
  const { c, end } = await tlsSession();
  // Rounds of streams opened and cancelled at once, each round after the last was written: the
  // guard trips after 100, and the client goes on until the server's GOAWAY or close stops it.
  let opened = 0;
  const deadline = Date.now() + scaled(CLOSE_DEADLINE_MS);
  while (opened < RESETS && !c.destroyed && !c.closed && Date.now() < deadline) {
    for (let j = 0; j < 20 && opened < RESETS; j++, opened++) {
      const s = c.request({ ":path": `/reset-${opened}`, "x-user-id": "k" });
      s.on("error", () => {});
      s.close(constants.NGHTTP2_CANCEL);
    }
    await new Promise((r) => setImmediate(r));
  }
  await closedByServer(c, end, "rapid reset");
  assert.equal(
    end.goaway,
    constants.NGHTTP2_ENHANCE_YOUR_CALM,
    `GOAWAY code ${end.goaway} (-1: none) after ${opened} streams\n${gate.sg.proc.output()}`,
  );
  assert.equal(await h2StatusOnce(tlsUrl(), undefined, ca), 200);
});

/** One raw TLS client's bytes: 150 streams opened and cancelled at once, padding, GOAWAY NO_ERROR. */
function resetsThenGoaway(): Buffer {
  // GET (0x82), :scheme https (0x87), :path / (0x84).
  const block = Buffer.concat([
    Buffer.from([0x82, 0x87, 0x84]),
    literal(":authority", "a"),
    literal("x-user-id", "k"),
  ]);
  const parts = [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(4, 0, 0)];
  for (let i = 0; i < 150; i++) {
    parts.push(frame(1, 0x5, 2 * i + 1, block), frame(3, 0, 2 * i + 1, Buffer.from([0, 0, 0, 8])));
  }
  // PRIORITY frames (nothing answers them) put the GOAWAY in a later TLS record, read after the
  // guard tripped but in the same turn.
  for (let i = 0; i < 2_000; i++) parts.push(frame(2, 0, 1_001, Buffer.from([0, 0, 0, 0, 16])));
  parts.push(frame(7, 0, 0, Buffer.alloc(8)));
  return Buffer.concat(parts);
}

test("rapid reset over TLS, then the client's GOAWAY, from clients that never read: their connections end within the linger bounds", async () => {
  const CLIENTS = 5;
  const sockets = [];
  try {
    for (let k = 0; k < CLIENTS; k++) {
      const s = tlsConnect({ host: "127.0.0.1", port: gate.port, ca, ALPNProtocols: ["h2"] });
      s.on("error", () => {});
      sockets.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once("secureConnect", () => resolve());
        s.once("close", () => reject(new Error("closed before the handshake")));
      });
      // Never reads: the server's answers stay in the kernel's buffers.
      s.pause();
      s.write(resetsThenGoaway());
    }
    // Each is ended LINGER_MS after its FIN (h2-closed-socket.ts); well within this.
    await eventually(
      "the abusive clients' connections to end",
      async () => {
        const text = await (await fetch(`${gate.sg.adminUrl}/metrics`)).text();
        const open = metricValue(text, "shardgate_downstream_connections_open", {});
        if (open !== 0) throw new Error(`shardgate_downstream_connections_open ${open}`);
        return true;
      },
      10_000,
    );
  } finally {
    for (const s of sockets) s.destroy();
  }
  assert.equal(await h2StatusOnce(tlsUrl(), undefined, ca), 200);
});
