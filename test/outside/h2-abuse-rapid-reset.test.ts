// Tried from the outside: a rapid-reset flood (CVE-2023-44487) written in one go, 20,000
// HEADERS + RST_STREAM pairs in a single write on a fresh h2c connection, as an attacker does
// (h2-floods.test.ts paces its rounds with PINGs, which hid this). Raw frame client, real
// shardgate process, one echo member, loopback.
//
// Found: each such connection had 1,007 streams routed, logged 499 and counted before it was
// closed, not the ~100 the reset guard allows: the first read (the sniffed h2c bytes) reaches
// nghttp2 in one call and JS hears of its ~1,000 streams only afterwards, each already reset,
// while the guard counted resets at 'close', a tick later still; only nghttp2's own reset rate
// limit (a burst of 1,000) ended the connection. Now (proxy/server/h2-reset-guard.ts) a stream
// already reset when announced is counted then, and the streams announced after the guard
// closed the session are not routed: at most ~RESET_MIN_STREAMS reach the data plane.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { RESET_MIN_STREAMS } from "../../proxy/server/h2-reset-guard.js";
import { h2StatusOnce } from "../support/h2-client.js";
import { readServerFrames } from "../support/h2-frame-reader.js";
import { frame, literal } from "../support/h2-frames.js";
import {
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { scaled } from "../support/wait.js";

const CONNECTIONS = 3;
const PAIRS = 20_000;

let upstreams: EchoUpstream[] = [];
let sg: RunningShardgate;

before(async () => {
  upstreams = await startUpstreams(1);
  sg = await startShardgate(poolConfig({ members: [{ id: "m1", port: upstreams[0].port }] }));
});

after(async () => {
  await stopAll();
  await closeAll(upstreams);
});

test("h2c rapid reset written in one go: each connection routes at most ~100 streams before it is closed, none reaches the member", {
  timeout: 180_000,
}, async () => {
  const port = Number(new URL(sg.httpUrl).port);
  for (let k = 0; k < CONNECTIONS; k++) {
    const path = `/burst-${k}`;
    const block = Buffer.concat([
      Buffer.from([0x82, 0x86]), // :method GET, :scheme http
      literal(":path", path),
      literal(":authority", "a"),
      literal("x-user-id", "k"),
    ]);
    const out: Buffer[] = [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(4, 0, 0)];
    for (let i = 0; i < PAIRS; i++)
      out.push(frame(1, 0x5, 2 * i + 1, block), frame(3, 0, 2 * i + 1, Buffer.from([0, 0, 0, 8])));
    const s = connect(port, "127.0.0.1");
    s.on("error", () => {});
    const server = readServerFrames(s);
    s.write(Buffer.concat(out));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([server.closed, new Promise((r) => (timer = setTimeout(r, scaled(30_000))))]);
    clearTimeout(timer);
    s.destroy();
    assert.ok(server.isClosed, `connection ${k}: shardgate did not close it`);

    // A request after the flood: once its access line is out, every flooded stream's line
    // (written when each closed, earlier) is out too.
    const marker = `/after-${k}`;
    assert.equal(await h2StatusOnce(sg.httpUrl, { ":path": marker, "x-user-id": "after" }), 200);
    await sg.proc.waitFor("the request after the flood", () =>
      sg.proc.lines.some((l) => l.type === "access" && l.path === marker) ? true : undefined,
    );
    const routed = sg.proc.lines.filter((l) => l.type === "access" && l.path === path);
    console.log(`connection ${k}: ${routed.length} of ${PAIRS} flooded streams routed before the close`);
    assert.ok(
      routed.length <= 2 * RESET_MIN_STREAMS,
      `connection ${k}: ${routed.length} flooded streams reached the data plane (at most ${2 * RESET_MIN_STREAMS})`,
    );
    assert.ok(
      routed.every((l) => l.status === 499 && l.attempts === 0),
      "each logged 499, no attempt",
    );
  }
  assert.equal(
    upstreams[0].trafficRequests,
    CONNECTIONS,
    "the member saw only the requests after the floods",
  );
  // Counted when the guard closed each connection, before its close.
  const text = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  assert.equal(
    metricValue(text, "shardgate_downstream_client_errors_total", { code: "h2_rapid_reset" }),
    CONNECTIONS,
  );
});
