// HTTP/2 floods on the h2c listener, sent as raw frames from one socket each (what no
// well-behaved client sends): rapid reset (HEADERS + RST_STREAM, CVE-2023-44487), SETTINGS,
// PING and empty DATA floods, an endless CONTINUATION chain (CVE-2024-27316's shape) and zero
// WINDOW_UPDATEs. Each flood is bounded in frames and time. After each: the process is up, its
// memory stayed bounded, and a well-behaved h2c request is served. How many flooded streams
// reached the upstream is printed, not asserted: nothing caps reset streams per connection
// yet (Envoy closes a connection whose streams are mostly reset prematurely).

import assert from "node:assert/strict";
import { connect as h2connect } from "node:http2";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

let upstreams: EchoUpstream[] = [];
let sg: RunningShardgate;

before(async () => {
  upstreams = await startUpstreams(1);
  sg = await startShardgate(
    poolConfig({ members: [{ id: "m1", port: upstreams[0].port }], accessLog: false }),
  );
});

after(async () => {
  await stopAll();
  await closeAll(upstreams);
});

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK literal header field without indexing, new name (short names and values only). */
function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

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

function h2Get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = h2connect(url);
    c.on("error", reject);
    const r = c.request({ ":path": "/", "x-user-id": "after" });
    r.on("response", (h) => {
      r.resume();
      r.on("end", () => {
        c.close();
        resolve(Number(h[":status"]));
      });
    });
    r.on("error", reject);
    r.end();
  });
}

async function rssKb(): Promise<number> {
  const r = await fetch(`${sg.adminUrl}/metrics`);
  const m = /^shardgate_process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(await r.text());
  assert.ok(m, "shardgate_process_resident_memory_bytes in /metrics");
  return Number(m[1]) / 1024;
}

test("h2c floods: the process stays up, bounded, and serves the next client", {
  timeout: 240_000,
}, async () => {
  const port = Number(new URL(sg.httpUrl).port);
  const baseline = await rssKb();
  for (const [name, next] of Object.entries(FLOODS)) {
    const before = upstreams[0].requests;
    const r = await flood(port, next);
    assert.equal(sg.proc.exit, undefined, `${name}: shardgate exited\n${sg.proc.output()}`);
    assert.equal(await h2Get(sg.httpUrl), 200, `${name}: the next h2c client is served`);
    const rss = await rssKb();
    console.log(
      `${name}: ${r.sent} frames sent, ${r.closedByPeer ? "closed by shardgate" : "still open at the deadline"}, ` +
        `${upstreams[0].requests - before - 1} streams forwarded upstream, RSS ${Math.round(rss / 1024)} MB`,
    );
    // Generous for a loaded machine: a flood must not grow the process by hundreds of MB.
    assert.ok(rss < baseline + 300 * 1024, `${name}: RSS ${rss} kB from ${baseline} kB`);
  }
});
