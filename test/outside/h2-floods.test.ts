// HTTP/2 floods on the h2c listener, sent as raw frames from one socket each (what no
// well-behaved client sends): rapid reset (HEADERS + RST_STREAM, CVE-2023-44487), SETTINGS,
// PING and empty DATA floods, an endless CONTINUATION chain (CVE-2024-27316's shape) and zero
// WINDOW_UPDATEs. Each flood is bounded in frames and time. After each: the process is up, its
// memory stayed bounded, and a well-behaved h2c request is served. How many flooded streams
// reached the upstream is printed. The rapid-reset cap (h2-reset-guard.ts) has its own test
// below: GOAWAY(ENHANCE_YOUR_CALM) and close after the threshold, 499 in the access log.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { RESET_MIN_STREAMS } from "../../proxy/server/h2-reset-guard.js";
import { h2StatusOnce } from "../support/h2-client.js";
import { frame, literal } from "../support/h2-frames.js";
import { oneMemberGate } from "../support/one-member-gate.js";
import { metricLines, metricValue, poolConfig, startShardgate } from "../support/shardgate-process.js";

const gate = oneMemberGate();

// :method GET, :scheme http, :path / (static table), then :authority and the routing key.
const GET_BLOCK = Buffer.concat([
  Buffer.from([0x82, 0x86, 0x84]),
  literal(":authority", "a"),
  literal("x-user-id", "k"),
]);
const POST_BLOCK = Buffer.concat([
  Buffer.from([0x83, 0x86, 0x84]),
  literal(":authority", "a"),
  literal("x-user-id", "k"),
]);

const FLOODS: Record<string, (i: number) => Buffer> = {
  "rapid reset": (i) =>
    Buffer.concat([frame(1, 0x5, 2 * i + 1, GET_BLOCK), frame(3, 0, 2 * i + 1, Buffer.from([0, 0, 0, 8]))]),
  "SETTINGS flood": () => frame(4, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100])),
  "PING flood": () => frame(6, 0, 0, Buffer.alloc(8)),
  "CONTINUATION chain": (i) =>
    i === 0 ? frame(1, 0, 1, literal("x-a", "b")) : frame(9, 0, 1, literal(`x-${i}`, "v".repeat(100))),
  "empty DATA flood": (i) => (i === 0 ? frame(1, 0x4, 1, POST_BLOCK) : frame(0, 0, 1)),
  "zero WINDOW_UPDATE flood": () => frame(8, 0, 0, Buffer.from([0, 0, 0, 0])),
};

const FRAMES = 20_000;
const FLOOD_MS = 4_000;

/** Writes up to FRAMES frames (respecting backpressure) for at most FLOOD_MS, then closes. */
function flood(port: number, next: (i: number) => Buffer): Promise<{ sent: number; closedByPeer: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let sent = 0;
    let closedByPeer = true;
    const timer = setTimeout(() => {
      closedByPeer = false;
      s.destroy();
    }, FLOOD_MS);
    s.on("error", () => {});
    s.on("data", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ sent, closedByPeer });
    });
    s.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    s.write(frame(4, 0, 0));
    const pump = (): void => {
      while (sent < FRAMES && !s.destroyed) {
        const ok = s.write(next(sent));
        sent++;
        if (!ok) {
          s.once("drain", pump);
          return;
        }
      }
    };
    pump();
  });
}

async function rssKb(): Promise<number> {
  const r = await fetch(`${gate.sg.adminUrl}/metrics`);
  const m = /^shardgate_process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(await r.text());
  assert.ok(m, "shardgate_process_resident_memory_bytes in /metrics");
  return Number(m[1]) / 1024;
}

test("h2c floods: the process stays up, bounded, and serves the next client", {
  timeout: 240_000,
}, async () => {
  const port = Number(new URL(gate.sg.httpUrl).port);
  const baseline = await rssKb();
  for (const [name, next] of Object.entries(FLOODS)) {
    const before = gate.upstream.requests;
    const r = await flood(port, next);
    assert.equal(gate.sg.proc.exit, undefined, `${name}: shardgate exited\n${gate.sg.proc.output()}`);
    assert.equal(await h2StatusOnce(gate.sg.httpUrl), 200, `${name}: the next h2c client is served`);
    const rss = await rssKb();
    console.log(
      `${name}: ${r.sent} frames sent, ${r.closedByPeer ? "closed by shardgate" : "still open at the deadline"}, ` +
        `${gate.upstream.requests - before - 1} streams forwarded upstream, RSS ${Math.round(rss / 1024)} MB`,
    );
    // Generous for a loaded machine: a flood must not grow the process by hundreds of MB.
    assert.ok(rss < baseline + 300 * 1024, `${name}: RSS ${rss} kB from ${baseline} kB`);
  }
});

/** Reads the server's frames: the first GOAWAY's error code (-1: none) at close, and PING ACKs. */
function serverFrames(s: import("node:net").Socket): {
  closed: Promise<number>;
  pingAck: () => Promise<boolean>;
} {
  let buf = Buffer.alloc(0);
  let code = -1;
  let onAck: ((acked: boolean) => void) | null = null;
  s.on("data", (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    // A server sends no preface: its bytes are frames from the first one (SETTINGS).
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      if (buf[3] === 7 && code === -1) code = buf.readUInt32BE(9 + 4);
      if (buf[3] === 6 && (buf[4] & 1) === 1) onAck?.(true);
      buf = buf.subarray(9 + len);
    }
  });
  const closed = new Promise<number>((resolve) =>
    s.on("close", () => {
      onAck?.(false);
      resolve(code);
    }),
  );
  const pingAck = (): Promise<boolean> =>
    new Promise((resolve) => {
      if (s.destroyed) return resolve(false);
      onAck = (acked) => {
        onAck = null;
        resolve(acked);
      };
      s.write(frame(6, 0, 0, Buffer.alloc(8)));
    });
  return { closed, pingAck };
}

test("h2c rapid reset: the connection gets GOAWAY(ENHANCE_YOUR_CALM) past the threshold; resets log 499", {
  timeout: 120_000,
}, async () => {
  const sg2 = await startShardgate(poolConfig({ members: [{ id: "m1", port: gate.upstream.port }] }));
  const port = Number(new URL(sg2.httpUrl).port);
  const FLOOD_BLOCK = Buffer.concat([
    Buffer.from([0x82, 0x86]),
    literal(":path", "/flood"),
    literal(":authority", "a"),
    literal("x-user-id", "k"),
  ]);
  // Rounds of 10 reset streams, each followed by a PING whose ACK says the server has read the
  // round, up to 50 times the minimum: the cap must close the connection soon after the minimum.
  const maxStreams = RESET_MIN_STREAMS * 50;
  const s = connect(port, "127.0.0.1");
  s.on("error", () => {});
  const server = serverFrames(s);
  s.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  s.write(frame(4, 0, 0));
  let sent = 0;
  const started = performance.now();
  while (sent < maxStreams && performance.now() - started < 60_000) {
    const round: Buffer[] = [];
    for (let j = 0; j < 10; j++, sent++)
      round.push(
        frame(1, 0x5, 2 * sent + 1, FLOOD_BLOCK),
        frame(3, 0, 2 * sent + 1, Buffer.from([0, 0, 0, 8])),
      );
    s.write(Buffer.concat(round));
    if (!(await server.pingAck())) break;
  }
  const deadline = setTimeout(() => s.destroy(), 60_000);
  const code = await server.closed;
  clearTimeout(deadline);
  assert.equal(
    code,
    11,
    `GOAWAY ENHANCE_YOUR_CALM (0xb) before the close, got ${code}\n${sg2.proc.output()}`,
  );

  // A well-behaved client on another connection is served.
  assert.equal(await h2StatusOnce(sg2.httpUrl), 200);

  const text = await (await fetch(`${sg2.adminUrl}/metrics`)).text();
  assert.equal(
    metricValue(text, "shardgate_downstream_client_errors_total", { code: "h2_rapid_reset" }),
    1,
    "one connection closed for rapid reset",
  );
  await sg2.proc.waitFor("the rapid-reset warning", () =>
    sg2.proc.lines.some((l) => l.code === "h2_rapid_reset") ? true : undefined,
  );
  // Every flooded stream the data plane saw is logged 499 (client closed), none 200.
  const flooded = await sg2.proc.waitFor("access lines of the flood", () => {
    const a = sg2.proc.lines.filter((l) => l.type === "access" && l.path === "/flood");
    return a.length >= RESET_MIN_STREAMS / 2 ? a : undefined;
  });
  assert.equal(sg2.proc.lines.filter((l) => l.code === "h2_rapid_reset").length, 1, "logged once");
  const statuses = new Set(flooded.map((l) => l.status));
  assert.deepEqual([...statuses], [499], `flooded streams' statuses: ${[...statuses].join(",")}`);
  assert.ok(sent <= RESET_MIN_STREAMS * 2, `closed soon after ${RESET_MIN_STREAMS} streams: ${sent} sent`);
  // The metrics agree: the flooded streams are 4xx (499), the one 2xx is the well-behaved request.
  const after = await (await fetch(`${sg2.adminUrl}/metrics`)).text();
  const byClass = (cls: string): number =>
    metricLines(after, "shardgate_requests_total")
      .filter((l) => l.includes(`code_class="${cls}"`))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  assert.equal(byClass("2xx"), 1, after);
  assert.ok(byClass("4xx") >= flooded.length, `4xx ${byClass("4xx")} >= ${flooded.length}`);
  console.log(`rapid reset cap: closed after ${sent} streams sent, ${flooded.length} reached the data plane`);
  await sg2.stop();
});
