// `workers: 2`: the dashboard's live figures (GET /admin/live, which /admin/dashboard embeds)
// speak for the whole instance, not for the primary that serves nothing. Under a bounded
// load spread over both workers, each member's rate is non-zero and the rates add up to the
// requests both workers served (counted from their access lines, by pid and member).

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { seededRandom, testSeed } from "../support/prng.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { allWorkersAt, getOnFreshConnection, servingPids } from "../support/workers.js";

const SEED = testSeed(2718);
const REQUESTS = 600;
const CONCURRENCY = 8;
const LOAD_DEADLINE_MS = 60_000;

interface Live {
  windowSeconds: number;
  pools: Record<
    string,
    Record<
      string,
      { inFlight: number; rate: number; errorRate: number; p50: number | null; p99: number | null }
    >
  >;
}

async function live(sg: RunningShardgate): Promise<{ at: number; body: Live }> {
  const res = await fetch(`${sg.adminUrl}/admin/live`);
  const body = (await res.json()) as Live;
  return { at: performance.now(), body };
}

describe(`workers: 2, live figures (seed ${SEED})`, { timeout: 240_000 }, () => {
  let upstreams: EchoUpstream[] = [];
  let sg: RunningShardgate;

  before(async () => {
    upstreams = await startUpstreams(3, "lv");
    sg = await startShardgate(
      `${poolConfig({ members: upstreams.map((u) => ({ id: u.id, port: u.port })) })}headers:\n  memberHeader: x-member\n`,
      { args: ["--workers", "2"], timeoutMs: 60_000 },
    );
  });
  after(async () => {
    await stopAll();
    await closeAll(upstreams);
  });

  it("per-member rates are non-zero under load and add up to what both workers served", async (t) => {
    await allWorkersAt(sg, 2, 1);
    const random = seededRandom(SEED);
    const t0 = await live(sg);
    assert.deepEqual(Object.keys(t0.body.pools.users).sort(), upstreams.map((u) => u.id).sort());
    const from = sg.proc.lines.length;
    // Bounded in count and time; each request on a fresh connection so both workers accept some.
    const deadline = Date.now() + LOAD_DEADLINE_MS;
    let sent = 0;
    let failed = 0;
    const runner = async (): Promise<void> => {
      while (sent < REQUESTS && Date.now() < deadline) {
        sent++;
        const r = await getOnFreshConnection(sg.httpUrl, "/", `user-${Math.floor(random() * 1e9)}`);
        if (r.status !== 200) failed++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, runner));
    assert.equal(failed, 0, `seed ${SEED}: failed requests`);
    // Every answered request has its access line (written by the worker that served it).
    const served = await sg.proc.waitFor(`${sent} access lines`, () => {
      const lines = sg.proc.lines.slice(from).filter((l) => l.type === "access");
      return lines.length >= sent ? lines : undefined;
    });
    const pids = servingPids(sg.proc.lines, from);
    assert.equal(pids.size, 2, `seed ${SEED}: one worker served all ${sent} requests; pids ${[...pids]}`);
    const byMember = new Map<string, number>();
    for (const l of served) byMember.set(String(l.member), (byMember.get(String(l.member)) ?? 0) + 1);
    // The workers report every 250 ms; give the last report time to land, then read.
    await new Promise((r) => setTimeout(r, 1_000));
    const t1 = await live(sg);
    const span = (t1.at - t0.at) / 1000;
    const rates = t1.body.pools.users;
    let sum = 0;
    for (const [id, m] of Object.entries(rates)) {
      sum += m.rate;
      const want = byMember.get(id) ?? 0;
      if (want > 0) {
        assert.ok(m.rate > 0, `seed ${SEED}: member ${id} served ${want} but shows rate 0`);
        // The latency buckets travel too: quantiles exist and are ordered.
        assert.ok(
          m.p50 !== null && m.p99 !== null && m.p99 >= m.p50 && m.p50 > 0,
          `${id}: ${JSON.stringify(m)}`,
        );
      }
      assert.equal(m.inFlight, 0, `${id}: nothing is in flight after the load`);
      // Each member's share of the rate is its share of what both workers served.
      assert.ok(
        Math.abs((m.rate * span) / sent - want / sent) < 0.1,
        `seed ${SEED}: member ${id}: rate ${m.rate}/s over ${span.toFixed(2)} s vs ${want} of ${sent} served`,
      );
      assert.equal(m.errorRate, 0);
    }
    // The instance's rate x the window is the requests both workers served (the window's
    // ends are the two reads, timed here from outside: a loose bound).
    const ratio = (sum * span) / sent;
    t.diagnostic(
      `live ${sum.toFixed(2)} req/s over ${span.toFixed(2)} s; served ${sent}; ratio ${ratio.toFixed(3)}`,
    );
    assert.ok(
      ratio > 0.8 && ratio < 1.2,
      `seed ${SEED}: live rate ${sum}/s x ${span.toFixed(2)} s = ${ratio.toFixed(3)} x served`,
    );
  });
});
