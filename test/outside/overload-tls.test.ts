// Tried from the outside: the overload guard (proxy/server/overload.ts) measured memory as the
// smaller of the RSS and V8's accounting (heap, Buffers, and the RSS beyond them at the first
// sample). OpenSSL's per-connection state and buffers are neither V8 heap nor Buffers, so a
// flood of TLS connections that each sent nothing grew the process's RSS and not its measured
// usage: the process went towards the OOM killer without shedding. Now every open TLS socket
// counts an estimate of that memory (proxy/server/tls-memory.ts), and the flood is shed.
//
// A real shardgate process with a TLS listener and a memory budget a few tens of MB above its own
// idle footprint (measured on a first start), real TLS clients on loopback that complete their
// handshake and then stay quiet. Bounded in count and time; every socket and process is stopped.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { TLSSocket } from "node:tls";
import { tearDownOutside } from "../support/outside-teardown.js";
import { seedNote, testSeed } from "../support/prng.js";
import { quietTls } from "../support/quiet-tls.js";
import { poolConfig, startShardgate } from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { eventually, scaled } from "../support/wait.js";

// Nothing here is random; the seed is printed for the suite's convention.
const SEED = testSeed(20_261_206);
const MB = 1024 * 1024;
/** Headroom over the idle footprint before shedding starts (limits.shedAt of the budget). */
const HEADROOM = 24 * MB;
/** Bound on the flood: TLS connections opened at most, and for how long. */
const FLOOD_MAX = 3_000;
const FLOOD_MS = 90_000;
/** Connections between two looks at the guard (each after a 600 ms pause): 100 spent most of the flood pausing. */
const BATCH = 200;

const sockets = new Set<TLSSocket>();
let member: Server | undefined;
const dir = mkdtempSync(join(tmpdir(), "sg-overload-tls-"));

after(() => tearDownOutside({ sockets, member, dir }));

function rssOf(pid: number | undefined): number {
  assert.ok(pid !== undefined);
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  assert.ok(m !== null, "VmRSS in /proc/<pid>/status");
  return Number(m[1]) * 1024;
}

function config(memberPort: number, limits: string): string {
  const tls = `  tls: { cert: ${join(dir, "listener.pem")}, key: ${join(dir, "listener.key")} }\n`;
  return poolConfig({ members: [{ id: "m1", port: memberPort }], accessLog: false })
    .replace(
      "  admin: 127.0.0.1:0\n",
      `  admin: 127.0.0.1:0\n${tls}  maxConnections: 100000\n  timeouts: { request: 300s, idle: 300s, headers: 300s, keepAlive: 300s }\n`,
    )
    .replace("pools:\n", `${limits}pools:\n`);
}

async function metric(adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(m !== null, `${name} in /metrics`);
  return Number(m[1]);
}

test("a flood of quiet TLS connections is seen by the overload guard and shed", async (t) => {
  makeCa(dir);
  issueCert(dir, "listener", "localhost", "DNS:localhost,IP:127.0.0.1");
  const ca = readFileSync(join(dir, "ca.pem"));
  const m = createServer((_req, res) => res.end("ok"));
  member = m;
  await new Promise<void>((resolve) => m.listen(0, "127.0.0.1", resolve));
  const memberPort = (m.address() as { port: number }).port;

  // The idle footprint of this build on this machine, from a first start without a budget.
  const probe = await startShardgate(config(memberPort, ""));
  const idle = rssOf(probe.proc.child.pid);
  await probe.stop();
  const limit = Math.ceil((idle + HEADROOM) / 0.85);
  const sg = await startShardgate(
    config(memberPort, `limits:\n  memory: ${limit}\n  shedAt: 0.85\n  refuseAt: 0.95\n`),
  );
  const pid = sg.proc.child.pid;
  const port = Number(new URL(sg.httpUrl).port);
  const startRss = rssOf(pid);
  const startUsage = await metric(sg.adminUrl, "shardgate_memory_usage_ratio");
  const note = (): string =>
    `idle RSS ${Math.round(idle / MB)} MB, limits.memory ${Math.round(limit / MB)} MB, ${open.length} TLS connections open, RSS ${Math.round(startRss / MB)} -> ${Math.round(rssOf(pid) / MB)} MB, usage ${startUsage} -> ${lastUsage}; ${seedNote(SEED)}`;

  // The flood: quiet TLS connections in batches until the process sheds; bounded in count and time.
  const open: TLSSocket[] = [];
  let lastUsage = startUsage;
  let state = 0;
  const deadline = Date.now() + scaled(FLOOD_MS);
  while (open.length < FLOOD_MAX && Date.now() < deadline && state === 0) {
    const batch = await Promise.all(Array.from({ length: BATCH }, () => quietTls(port, ca, sockets)));
    for (const s of batch) if (s !== null) open.push(s);
    // Two samples of the guard (every 250 ms) after the batch settled.
    await new Promise((r) => setTimeout(r, 600));
    lastUsage = await metric(sg.adminUrl, "shardgate_memory_usage_ratio");
    state = await metric(sg.adminUrl, "shardgate_overload_state");
    assert.equal(sg.proc.exit, undefined, `shardgate exited during the flood: ${sg.proc.output()}`);
  }
  const grown = rssOf(pid) - startRss;
  assert.ok(open.length > 0, `no TLS connection was established (${note()})`);
  assert.ok(
    state > 0,
    `${open.length} quiet TLS connections raised RSS by ${Math.round(grown / MB)} MB and the guard never shed (${note()})`,
  );
  const entered = await sg.proc.waitForLine(
    "the overload log line",
    (l) => l.code === "overloaded" && l.from === "normal",
  );
  assert.equal(typeof entered.tlsSockets, "number", note());

  const shedAt = note();
  t.diagnostic(`shed at: ${shedAt}`);
  // The clients go away: the estimate falls with them and the process recovers.
  for (const s of open) s.destroy();
  await eventually(
    "the overload state back to 0",
    async () => ((await metric(sg.adminUrl, "shardgate_overload_state")) === 0 ? true : undefined),
    30_000,
    250,
  );
  const exit = await sg.stop();
  assert.equal(exit.code, 0, shedAt);
});
