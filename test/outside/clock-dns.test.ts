// The wall clock steps back while shardgate holds a member's name in its DNS cache (tried from
// the outside: a real shardgate under libfaketime, in a mount namespace whose resolv.conf names
// the DNS double, which answers 127.0.0.1 with a TTL of 5 s). Found on the old code: the cache's
// lifetimes (proxy/net/bounded-lookup.ts) were Date.now() + TTL, so after a -1h step the name was
// not asked again for the hour, and a member whose address moved was not followed. Now the
// lifetimes are monotonic: the name is asked again once its TTL has passed.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { ClockStep, clockStepMissing } from "../support/clock-step.js";
import { dnsFixture } from "../support/dns-process.js";
import { scaled } from "../support/wait.js";

const fx = dnsFixture(2026_1214, "sg-clock-dns-");
const skip = clockStepMissing() ?? fx.skip ?? undefined;
const NAME = "member.clock.test";
/** The DNS double's TTL on every answer (dns-double.ts). */
const DOUBLE_TTL_MS = 5_000;

let clock: ClockStep | undefined;
let upstream: Server | undefined;

after(async () => {
  clock?.remove();
  await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
});

test("a member's name is asked again after its TTL when the clock steps back an hour", {
  skip,
  timeout: 300_000,
}, async () => {
  clock = new ClockStep();
  // Every answer closes its connection, so every request opens one and looks the name up.
  upstream = createServer((_req, res) => {
    res.writeHead(200, { connection: "close", "content-length": "2" });
    res.end("ok");
  });
  const server = upstream;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const dns = await fx.dns();
  dns.mode = "answer";
  dns.answerIp = "127.0.0.1";
  const sg = await fx.start(
    "stepped",
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
pools:
  p:
    members: [{ id: m1, address: "${NAME}:${port}" }]
routes:
  - { pool: p, key: [header:x-k] }
`,
    { timeoutS: 2, attempts: 1 },
    true,
    clock.env,
  );
  const asked = (): number => dns.queries.filter((q) => q.toLowerCase().startsWith(NAME)).length;
  const get = async (): Promise<void> => {
    const r = await fetch(sg.http, { headers: { "x-k": "k" }, signal: AbortSignal.timeout(scaled(10_000)) });
    const body = await r.text();
    assert.equal(r.status, 200, `${body}\n${sg.output()}`);
  };
  await get();
  const before = asked();
  assert.ok(before > 0, `the double was asked for ${NAME}: ${dns.queries.join(", ")}`);
  clock.step("-1h");
  try {
    // One request every 250 ms until the name is asked again: its TTL (5 s), and slack for a
    // loaded machine. The old code answered from its cache for the hour.
    const bound = scaled(DOUBLE_TTL_MS + 30_000);
    const start = performance.now();
    while (asked() === before) {
      assert.ok(
        performance.now() - start < bound,
        `${NAME} not asked again within ${bound} ms after a -1h step (TTL ${DOUBLE_TTL_MS} ms)`,
      );
      await get();
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    clock.step("+0");
    sg.proc.kill("SIGTERM");
    await sg.exited;
  }
});
