// The proxy bench's bytes-allocated yardstick (bench/alloc-meter.ts, bench/alloc-window.ts) on
// real processes: two Node HTTP servers with the meter preloaded, one of which allocates a known
// extra array per request. The meter must count every request of its window and find the extra
// bytes per request: at least the array's elements and less than half as much again (V8 lays out
// a large `new Array(n)` with some slack, 95-112 KB for these 80,000 bytes of elements,
// depending on the tier running it). A meter that lost the bytes each GC took away would find
// a fraction of it; one that counted survivors again would find about twice as much.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type AllocFigures, AllocWindow, allocMeterEnv } from "../../bench/alloc-window.js";

// 10,000 small integers in a fresh array: 80,000 bytes of elements plus the headers.
const EXTRA_SLOTS = 10_000;
const EXTRA_BYTES = EXTRA_SLOTS * 8;
const REQUESTS = 300;

const SERVER = `
const http = require("node:http");
const slots = Number(process.env.EXTRA_SLOTS);
globalThis.sink = null;
const server = http.createServer((req, res) => {
  if (slots > 0) {
    const a = new Array(slots);
    for (let i = 0; i < slots; i++) a[i] = i & 0xff;
    globalThis.sink = a;
  }
  res.end("ok");
});
server.keepAliveTimeout = 60000;
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
process.on("SIGTERM", () => process.exit(0));
`;

const dir = mkdtempSync(join(tmpdir(), "alloc-meter-test-"));
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((r) => c.once("exit", r));
    c.kill("SIGTERM");
    await gone;
  }
  rmSync(dir, { recursive: true, force: true });
});

async function startServer(name: string, extraSlots: number): Promise<{ port: number; window: AllocWindow }> {
  const file = join(dir, `${name}.jsonl`);
  const child = spawn(process.execPath, ["-e", SERVER], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...allocMeterEnv(file), EXTRA_SLOTS: String(extraSlots) },
  });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    let buf = "";
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (c: string) => {
      buf += c;
      if (buf.includes("\n")) resolve(Number(buf.trim()));
    });
    child.once("exit", (code) => reject(new Error(`${name} server exited with ${code}`)));
  });
  return { port, window: new AllocWindow(child.pid ?? 0, file) };
}

async function meter(s: { port: number; window: AllocWindow }): Promise<AllocFigures> {
  // Warm the JIT and the keep-alive connection outside the window.
  for (let i = 0; i < 200; i++) await (await fetch(`http://127.0.0.1:${s.port}/`)).text();
  await s.window.open();
  for (let i = 0; i < REQUESTS; i++) await (await fetch(`http://127.0.0.1:${s.port}/`)).text();
  return s.window.close();
}

test("the meter counts the window's requests and finds a known extra allocation per request", async () => {
  const plain = await startServer("plain", 0);
  const heavy = await startServer("heavy", EXTRA_SLOTS);
  const a = await meter(plain);
  const b = await meter(heavy);
  assert.equal(a.requests, REQUESTS);
  assert.equal(b.requests, REQUESTS);
  const perA = a.bytes / a.requests;
  const perB = b.bytes / b.requests;
  const extra = perB - perA;
  const note = `plain ${perA.toFixed(0)} B/req, heavy ${perB.toFixed(0)} B/req, extra ${extra.toFixed(0)} (expected about ${EXTRA_BYTES})`;
  assert.ok(perA > 0, note);
  assert.ok(extra >= EXTRA_BYTES && extra < EXTRA_BYTES * 1.5, note);
  // The extra arrays are far more than a young generation holds: GCs ran inside the window.
  assert.ok(b.scavenges > 0, `no scavenge in the heavy window: ${note}`);
});
