// Memory far beyond an input's size: a routing key is read from the request in place (a slice of
// the Cookie header), and V8 keeps a slice of 13 characters or more as a view of the whole
// header. The affinity pin cache (store affinity's local copy, 10,000 entries by default) and the
// cookie codec's verified values (10,000) kept such keys, and with them every client's whole
// Cookie header: a 30-byte key held 16 KiB (at the default maxHeaderSize; more when raised), so a
// client sending distinct keys in padded Cookie headers made the process hold ~160 MB per map.
// Tried with real requests: Node's HTTP parser makes the header strings, key-extract.ts reads the
// keys, and the real PinCache and CookieCodec keep them; the heap is measured after full GCs.

import assert from "node:assert/strict";
import { Agent, createServer, type IncomingMessage, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { CookieCodec } from "../../proxy/affinity/cookie-codec.js";
import { PinCache } from "../../proxy/affinity/pin-cache.js";
import { compileKeyPlan, cookieValue, extractKey } from "../../proxy/routing/key-extract.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const SEED = testSeed(1517);
const ENTRIES = 1_000;
/** Padding in each Cookie header: what a slice would keep alive per entry. */
const PAD = 16_000;

let server: Server;
let port = 0;
let onRequest: (req: IncomingMessage) => void = () => {};
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

before(async () => {
  server = createServer({ maxHeaderSize: 32 * 1024 }, (req, res) => {
    onRequest(req);
    res.end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  agent.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function get(cookie: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent, headers: { cookie } }, (res) => {
      res.resume();
      res.on("end", resolve);
    });
    req.on("error", reject);
    req.end();
  });
}

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** A padded Cookie header with `value` under `name`, the padding seeded and different per request. */
function paddedCookie(rand: () => number, name: string, value: string): string {
  const pad = Math.floor(rand() * 36 ** 6).toString(36);
  return `pad=${pad}${"x".repeat(PAD)}; ${name}=${value}`;
}

describe("complexity: keys a long-lived map keeps hold their own bytes, not the request's", () => {
  it("the affinity pin cache: 1,000 pins of keys read from padded Cookie headers keep under 2 KiB each", async () => {
    const rand = seededRandom(SEED);
    const plan = compileKeyPlan({
      match: { host: { kind: "any" }, pathPrefix: "/" },
      pool: "p",
      key: [{ kind: "cookie", name: "sid" }],
      onMissingKey: "reject",
      trustedProxies: [],
    } as unknown as Parameters<typeof compileKeyPlan>[0]);
    const pins = new PinCache(600_000, 100_000);
    onRequest = (req) => {
      const key = extractKey(plan, req);
      assert.ok(key.startsWith("session-"), key.slice(0, 40));
      pins.set(key, "member-1", 0);
    };
    // Measured once the handler is this test's: the previous one (and what it kept) is garbage.
    const before = heapAfterGc();
    for (let i = 0; i < ENTRIES; i++)
      await get(paddedCookie(rand, "sid", `session-${i.toString().padStart(24, "0")}`));
    const perEntry = (heapAfterGc() - before) / ENTRIES;
    assert.equal(pins.size, ENTRIES);
    assert.ok(
      perEntry < 2_048,
      `${seedNote(SEED)}: ${perEntry.toFixed(0)} bytes kept per pin (key 32 bytes)`,
    );
  });

  it("the cookie codec's verified values: 1,000 affinity cookies read from padded headers keep under 2 KiB each", async () => {
    const rand = seededRandom(SEED + 1);
    const codec = new CookieCodec("a shared secret of the fleet, long enough");
    let verified = 0;
    onRequest = (req) => {
      const value = cookieValue(req.headers.cookie ?? "", "sg=");
      if (codec.verify("p", value, 1_000) !== null) verified++;
    };
    const before = heapAfterGc();
    for (let i = 0; i < ENTRIES; i++)
      await get(paddedCookie(rand, "sg", codec.sign("p", `member-${i}`, 2_000_000_000)));
    const perEntry = (heapAfterGc() - before) / ENTRIES;
    assert.equal(verified, ENTRIES);
    assert.ok(perEntry < 2_048, `${seedNote(SEED)}: ${perEntry.toFixed(0)} bytes kept per verified cookie`);
  });
});
