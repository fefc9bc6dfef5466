// Error answers and log lines that could echo what a client sent, tried from the outside with
// real requests near the limits: a Host header, an X-Request-Id and a request target of
// thousands of bytes, markup and quotes in them, and a head just past Node's 16 KiB header
// limit. Guard test: shardgate was found already bounded here (its error bodies carry a fixed
// message and a request id that is the client's only when it is 1..128 visible ASCII,
// proxy/errors.ts and forward/request-id.ts; a target over 8 KB is a 414 before any log
// line; the access log writes the path JSON-escaped, without its query). It would fail if an
// answer echoed the input or a log line grew with it or were not one JSON line.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { rawExchange } from "../support/raw-socket.js";
import {
  eventually,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const SEED = testSeed(431);
const random = seededRandom(SEED);

let sg: RunningShardgate;
let ups: EchoUpstream[];

/** A marker no answer may contain, with markup and a quote to show escaping. */
function filler(n: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let s = '<script>"x';
  while (s.length < n) s += alphabet[Math.floor(random() * alphabet.length)];
  return s.slice(0, n);
}

before(async () => {
  ups = await startUpstreams(1);
  sg = await startShardgate(poolConfig({ members: [{ id: "m1", port: ups[0].port }], accessLog: true }));
});

after(async () => {
  await stopAll();
  await closeAll(ups);
});

function statusOf(reply: string): number {
  return Number(reply.slice(9, 12));
}

function bodyOf(reply: string): string {
  const at = reply.indexOf("\r\n\r\n");
  return at < 0 ? "" : reply.slice(at + 4);
}

test("answers to huge or hostile heads echo none of it; every log line stays one bounded JSON line", {
  timeout: 120_000,
}, async () => {
  const note = seedNote(SEED);
  const port = Number(new URL(sg.httpUrl).port);
  const big = filler(12_000);
  const cases: Array<{ name: string; head: string; status: number; marker: string }> = [
    {
      name: "a Host of 12,000 bytes with markup",
      head: `GET / HTTP/1.1\r\nHost: ${big}\r\nx-user-id: k\r\n\r\n`,
      status: 400,
      marker: big.slice(0, 64),
    },
    {
      name: "an X-Request-Id of 12,000 bytes on a TRACE",
      head: `TRACE / HTTP/1.1\r\nHost: a\r\nx-request-id: ${big}\r\n\r\n`,
      status: 405,
      marker: big.slice(0, 64),
    },
    {
      name: "a request target of 8,000 bytes with a fragment",
      head: `GET /${big.slice(10, 8_000)}#${big.slice(0, 20)} HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\n\r\n`,
      status: 400,
      marker: big.slice(10, 74),
    },
    {
      name: "a request target past 8 KB",
      head: `GET /${big.slice(10)} HTTP/1.1\r\nHost: a\r\n\r\n`,
      status: 414,
      marker: big.slice(10, 74),
    },
    {
      name: "a head past the 16 KiB header limit",
      head: `GET / HTTP/1.1\r\nHost: a\r\nx-a: ${big}\r\nx-b: ${big}\r\n\r\n`,
      status: 431,
      marker: big.slice(0, 64),
    },
  ];
  for (const c of cases) {
    const reply = await rawExchange(port, c.head, 20_000);
    assert.equal(statusOf(reply), c.status, `${c.name}: ${reply.slice(0, 200)} (${note})`);
    const body = bodyOf(reply);
    assert.ok(body.length > 0 && body.length < 512, `${c.name}: body of ${body.length} bytes (${note})`);
    assert.ok(!reply.includes(c.marker), `${c.name}: the answer echoes the input (${note})`);
    assert.ok(!reply.includes("<script>"), `${c.name}: markup in the answer (${note})`);
    assert.doesNotThrow(() => JSON.parse(body), `${c.name}: body is JSON (${note})`);
  }
  // And one that is served: its access line carries a path of 8,000 bytes, no more.
  const longPath = `/${big.slice(10, 8_000)}`;
  const served = await rawExchange(
    port,
    `GET ${longPath} HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nConnection: close\r\n\r\n`,
    20_000,
  );
  assert.equal(statusOf(served), 200, `a long target is served (${note})`);
  const line = await eventually(`the access line of the long target (${note})`, () =>
    sg.proc.lines.find((l) => typeof l.path === "string" && l.path.length > 7_000),
  );
  assert.equal(line.path, longPath, `the path is logged as sent (${note})`);
  assert.deepEqual(sg.proc.textLines, [], `every stdout line is one JSON object (${note})`);
  for (const l of sg.proc.lines) {
    const n = JSON.stringify(l).length;
    assert.ok(n < 10_000, `a log line of ${n} characters: ${JSON.stringify(l).slice(0, 300)} (${note})`);
    for (const v of Object.values(l))
      if (typeof v === "string")
        assert.ok(!v.includes(big.slice(0, 64)), `a log field echoes a header (${note})`);
  }
});
