// Tried from the outside: with workers: N the instance's shardgate_overload_state was the highest
// of the gauges in that scrape, and a worker's gauge reaches the primary only in its answer to
// the scrape (2 s deadline). A worker too busy to answer in time (forced collections while
// overloaded, a long loop) was left out: the state read 0 while that worker shed, and the alert
// on it stayed quiet. Now the primary's gauge also reads the levels its workers report with their
// beats (sent at once on a change), which reach it unasked; shardgate_memory_usage_ratio, which
// read the primary's own ratio alone then, reads the workers' from their beats the same way, and
// so does shardgate_memory_tls_estimate_bytes (it read 0 then: the primary holds no connection).
//
// A real shardgate with workers: 2 and a TLS listener; a budget over the primary's idle footprint
// that the workers reach through quiet TLS connections (each counts towards memory held:
// tls-memory.ts), so the workers shed while the primary does not. Then both workers are stopped
// (SIGSTOP: they cannot answer a scrape) and /metrics is read. Bounded in count and time; every
// process is continued and stopped, every socket closed.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { TLSSocket } from "node:tls";
import { TLS_SOCKET_BYTES } from "../../proxy/server/tls-memory.js";
import { tearDownOutside } from "../support/outside-teardown.js";
import { seedNote, testSeed } from "../support/prng.js";
import { quietTls } from "../support/quiet-tls.js";
import { poolConfig, startShardgate } from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";
import { scaled } from "../support/wait.js";

// Nothing here is random; the seed is printed for the suite's convention.
const SEED = testSeed(20_261_206);
const MB = 1024 * 1024;
/** Headroom over the primary's idle footprint before it would shed itself. */
const HEADROOM = 24 * MB;
const FLOOD_MAX = 6_000;
const FLOOD_MS = 120_000;
/**
 * Connections opened between two looks at /readyz (each after a 600 ms pause for the workers'
 * beats): the workers shed after ~2,500 of them, and 100 at a time spent ~15 s in those pauses.
 */
const BATCH = 200;

const sockets = new Set<TLSSocket>();
const stopped = new Set<number>();
let member: Server | undefined;
const dir = mkdtempSync(join(tmpdir(), "sg-overload-scrape-"));

after(async () => {
  for (const pid of stopped) process.kill(pid, "SIGCONT");
  await tearDownOutside({ sockets, member, dir });
});

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  assert.ok(m !== null, "VmRSS in /proc/<pid>/status");
  return Number(m[1]) * 1024;
}

function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1")
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

function config(memberPort: number, limits: string): string {
  const tls = `  tls: { cert: ${join(dir, "listener.pem")}, key: ${join(dir, "listener.key")} }\n`;
  return `${poolConfig({ members: [{ id: "m1", port: memberPort }], accessLog: false })
    .replace(
      "  admin: 127.0.0.1:0\n",
      `  admin: 127.0.0.1:0\n${tls}  maxConnections: 100000\n  timeouts: { request: 300s, idle: 300s, headers: 300s, keepAlive: 300s }\n`,
    )
    .replace("pools:\n", `${limits}pools:\n`)}workers: 2\n`;
}

test("workers: 2: a shedding worker that cannot answer the scrape still shows in shardgate_overload_state, shardgate_memory_usage_ratio and shardgate_memory_tls_estimate_bytes", async () => {
  makeCa(dir);
  issueCert(dir, "listener", "localhost", "DNS:localhost,IP:127.0.0.1");
  const ca = readFileSync(join(dir, "ca.pem"));
  const m = createServer((_req, res) => res.end("ok"));
  member = m;
  await new Promise<void>((resolve) => m.listen(0, "127.0.0.1", resolve));
  const memberPort = (m.address() as { port: number }).port;

  // The primary's idle footprint, from a first start without a budget.
  const probe = await startShardgate(config(memberPort, ""));
  const primaryIdle = rssOf(probe.proc.child.pid as number);
  await probe.stop();
  const limit = Math.ceil((primaryIdle + HEADROOM) / 0.85);
  const sg = await startShardgate(
    config(memberPort, `limits:\n  memory: ${limit}\n  shedAt: 0.85\n  refuseAt: 0.95\n`),
  );
  const pid = sg.proc.child.pid as number;
  const port = Number(new URL(sg.httpUrl).port);
  const note = `primary idle RSS ${Math.round(primaryIdle / MB)} MB, limits.memory ${Math.round(limit / MB)} MB; ${seedNote(SEED)}`;

  // Quiet TLS connections until the instance says it sheds (its /readyz reads the workers' beats).
  const deadline = Date.now() + scaled(FLOOD_MS);
  let shedding = false;
  let open = 0;
  while (!shedding && open < FLOOD_MAX && Date.now() < deadline) {
    const batch = await Promise.all(Array.from({ length: BATCH }, () => quietTls(port, ca, sockets)));
    open += batch.filter((s) => s !== null).length;
    await new Promise((r) => setTimeout(r, 600));
    const ready = (await (await fetch(`${sg.adminUrl}/readyz`)).json()) as { reason?: string };
    shedding = ready.reason === "overloaded";
    assert.equal(sg.proc.exit, undefined, `shardgate exited during the flood: ${sg.proc.output()}`);
  }
  assert.ok(shedding, `no worker shed after ${open} TLS connections (${note})`);
  assert.equal(
    sg.proc.lines.find((l) => l.code === "overloaded" && l.worker === undefined),
    undefined,
    `the primary itself was overloaded (${note})`,
  );

  // While the workers answer, their own figures and the primary's sum of their beats are one
  // figure, not two: the TLS estimate is counted once.
  const answered = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  const tlsAnswered = Number(/^shardgate_memory_tls_estimate_bytes (\S+)$/m.exec(answered)?.[1]);
  assert.ok(
    tlsAnswered >= open * TLS_SOCKET_BYTES * 0.9 && tlsAnswered <= open * TLS_SOCKET_BYTES * 1.1,
    `shardgate_memory_tls_estimate_bytes ${tlsAnswered} with ${open} TLS connections open, workers answering (${note})`,
  );

  // Both workers stop answering; the scrape waits out its deadline for them.
  const workers = childrenOf(pid);
  assert.equal(workers.length, 2, note);
  for (const w of workers) {
    process.kill(w, "SIGSTOP");
    stopped.add(w);
  }
  let text: string;
  try {
    text = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  } finally {
    for (const w of workers) process.kill(w, "SIGCONT");
    stopped.clear();
  }
  const state = /^shardgate_overload_state (\d)$/m.exec(text)?.[1];
  assert.ok(
    state !== undefined && Number(state) >= 1,
    `shardgate_overload_state ${state} with ${open} TLS connections open and a worker shedding (${note})`,
  );
  // The ratio too: a shedding worker holds at least shedAt - 0.05 of its budget (overload.ts
  // HYSTERESIS), the primary ~0.7 of its own; the scrape read the primary's alone.
  const ratio = Number(/^shardgate_memory_usage_ratio (\S+)$/m.exec(text)?.[1]);
  assert.ok(
    ratio >= 0.8,
    `shardgate_memory_usage_ratio ${ratio} with a worker shedding and no worker answering (${note})`,
  );

  // And the part of it estimated for the open TLS connections (32 KiB each, tls-memory.ts): the
  // workers hold them all, so the scrape read the primary's own 0.
  const tlsBytes = Number(/^shardgate_memory_tls_estimate_bytes (\S+)$/m.exec(text)?.[1]);
  assert.ok(
    tlsBytes >= open * TLS_SOCKET_BYTES * 0.9,
    `shardgate_memory_tls_estimate_bytes ${tlsBytes} with ${open} TLS connections open and no worker answering (${note})`,
  );

  for (const s of sockets) s.destroy();
  assert.equal((await sg.stop()).code, 0, note);
});
