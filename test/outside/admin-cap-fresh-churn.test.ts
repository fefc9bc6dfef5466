// The admin port's connection cap spares a connection that has sent nothing for its first
// FRESH_GRACE_MS, so a burst's unread requests are answered. An attacker that keeps every slot
// fresh then starved /healthz: holding admin.maxConnections silent connections and replacing
// each before its grace ran out (its own close, or a newcomer reclaiming it) cost it a few dozen
// connections a second, and every probe in between was refused 503, where before the grace a
// probe always reclaimed the silent connection idle the longest. Now a connection that ended
// having sent nothing turns the grace off for a while: the probes are answered again.
// Seeded hold times.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, test } from "node:test";
import { startCappedAdmin, statusLineOf } from "../support/admin-cap.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const seed = testSeed(20_261_206);
const note = seedNote(seed);
const CAP = 8;
/** How long a probe waits for its status line. */
const ASK_MS = 5_000;
/** How long the attack runs, and when the probes start (after the first silent ones ended). */
const ATTACK_MS = 4_000;
const PROBES_FROM_MS = 1_500;
const PROBES = 20;
let ups: EchoUpstream[] = [];
const attackers = new Set<Socket>();

after(async () => {
  for (const s of attackers) s.destroy();
  await stopAll();
  await closeAll(ups);
});

/** One attacker slot: a silent connection held for 200-500 ms, then replaced, until `until`. */
async function churn(port: number, until: number, random: () => number): Promise<number> {
  let opened = 0;
  while (performance.now() < until) {
    opened++;
    await new Promise<void>((resolve) => {
      const s = connect(port, "127.0.0.1");
      attackers.add(s);
      const end = () => {
        clearTimeout(timer);
        s.destroy();
        attackers.delete(s);
        resolve();
      };
      const timer = setTimeout(end, 200 + Math.floor(random() * 300));
      s.on("error", end);
      s.on("close", end);
      s.resume();
    });
  }
  return opened;
}

test("silent connections churned to stay fresh do not lock /healthz out of the admin port", async () => {
  ups = await startUpstreams(1, "fc");
  const sg = await startCappedAdmin(CAP, ups[0].port);
  const port = Number(new URL(sg.adminUrl).port);
  const random = seededRandom(seed);
  const start = performance.now();
  const attack = Promise.all(Array.from({ length: CAP }, () => churn(port, start + ATTACK_MS, random)));
  await new Promise((r) => setTimeout(r, PROBES_FROM_MS));
  const outcomes: string[] = [];
  const request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  for (let i = 0; i < PROBES && performance.now() < start + ATTACK_MS; i++) {
    outcomes.push(await statusLineOf(port, request, ASK_MS));
    await new Promise((r) => setTimeout(r, 50));
  }
  const opened = (await attack).reduce((a, b) => a + b, 0);
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  const said = `${outcomes.length} probes at a cap of ${CAP}, ${opened} attacker connections: ${JSON.stringify(counts)}\n${note}`;
  assert.ok(outcomes.length >= 5, `the probes ran\n${said}`);
  assert.equal(counts["HTTP/1.1 200 OK"] ?? 0, outcomes.length, `every probe is answered 200\n${said}`);
});
