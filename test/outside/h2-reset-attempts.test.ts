// An HTTP/2 client opens streams and resets them in the same packet (HEADERS + RST_STREAM).
// Tried from the outside: the access log said `attempts 1` and named a member for each, though
// the upstream never saw one of them. The log must say what happened: 499, attempts 0, no
// member; and a well-behaved request after them is still logged with its one attempt.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { RESET_MIN_STREAMS } from "../../proxy/server/h2-reset-guard.js";
import { frame, literal } from "../support/h2-frames.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

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

// Fewer than the rapid-reset cap: this is a client that changed its mind, not a flood.
const STREAMS = Math.min(5, RESET_MIN_STREAMS - 1);

test("h2c streams reset in the packet that opened them log 499 with attempts 0 and no member", {
  timeout: 90_000,
}, async () => {
  const port = Number(new URL(sg.httpUrl).port);
  const block = Buffer.concat([
    Buffer.from([0x82, 0x86]), // :method GET, :scheme http
    literal(":path", "/reset-early"),
    literal(":authority", "a"),
    literal("x-user-id", "k"),
  ]);
  const s = connect(port, "127.0.0.1");
  s.on("error", () => {});
  s.on("data", () => {});
  const out: Buffer[] = [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(4, 0, 0)];
  for (let i = 0; i < STREAMS; i++)
    out.push(frame(1, 0x5, 2 * i + 1, block), frame(3, 0, 2 * i + 1, Buffer.from([0, 0, 0, 8])));
  s.write(Buffer.concat(out));
  try {
    const lines = await sg.proc.waitFor(
      "the reset streams' access lines",
      () => {
        const a = sg.proc.lines.filter((l) => l.type === "access" && l.path === "/reset-early");
        return a.length >= STREAMS ? a : undefined;
      },
      45_000,
    );
    for (const l of lines) {
      assert.equal(l.status, 499, JSON.stringify(l));
      assert.equal(l.attempts, 0, `no upstream attempt was made: ${JSON.stringify(l)}`);
      assert.equal(l.member, "", JSON.stringify(l));
    }
    assert.equal(upstreams[0].trafficRequests, 0, "the upstream saw none of the reset streams");
  } finally {
    s.destroy();
  }
  // A request that does reach the upstream still logs its one attempt.
  const r = await fetch(`${sg.httpUrl}/after`, { headers: { "x-user-id": "k" } });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  const ok = await sg.proc.waitFor("the served request's access line", () =>
    sg.proc.lines.find((l) => l.type === "access" && l.path === "/after"),
  );
  assert.equal(ok.attempts, 1);
  assert.equal(ok.member, "m1");
});
