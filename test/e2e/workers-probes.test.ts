// `workers: 2`: the half-open probe budget (`breaker.halfOpenProbes`) is the instance's, not
// each worker's. A member fails until its breaker opens; it then answers slowly (its probe
// stays in flight) and, once the breaker is half-open, a burst of requests for its keys
// reaches both workers: the member receives exactly halfOpenProbes (1) of them, where each
// worker admitting its own budget let 2 through. The shares themselves are checked over all
// small budgets and worker counts: they add up to the budget for every member.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ProbeShare } from "../../proxy/workers/probe-share.js";
import { hashKey } from "../../ring/hash.js";
import { seededRandom, testSeed } from "../support/prng.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";
import { allWorkersAt, getOnFreshConnection } from "../support/workers.js";

const SEED = testSeed(4242);
const TOKEN = "probe-test-token";
const BURST = 40;
const SLOW_MS = 4_000;

interface StateView {
  ringVersion: number;
  pools: Record<string, { members: Array<{ id: string; breaker: string }> }>;
}

async function breakerOf(sg: RunningShardgate, member: string): Promise<{ state: string; version: number }> {
  const body = (await (await fetch(`${sg.adminUrl}/admin/state`)).json()) as StateView;
  const m = body.pools.users.members.find((x) => x.id === member);
  return { state: m?.breaker ?? "unknown", version: body.ringVersion };
}

function traffic(u: EchoUpstream): number {
  return u.requests - u.healthProbes;
}

describe("probe shares", () => {
  it("add up to the budget for every member, worker count and budget", () => {
    const random = seededRandom(SEED);
    for (let workers = 1; workers <= 8; workers++)
      for (let limit = 1; limit <= 12; limit++)
        for (let m = 0; m < 50; m++) {
          const key = hashKey(`member-${Math.floor(random() * 1e9)}`) >>> 0;
          let sum = 0;
          for (let w = 0; w < workers; w++) {
            const part = new ProbeShare(w, workers).of(limit, key);
            assert.ok(part >= Math.floor(limit / workers) && part <= Math.ceil(limit / workers));
            sum += part;
          }
          assert.equal(sum, limit, `seed ${SEED}: ${workers} workers, budget ${limit}, key ${key}`);
        }
  });
});

describe(`workers: 2, half-open probes (seed ${SEED})`, { timeout: 240_000 }, () => {
  let upstreams: EchoUpstream[] = [];
  let sg: RunningShardgate;

  before(async () => {
    upstreams = await startUpstreams(3, "pb");
    const yaml = poolConfig({
      members: upstreams.map((u) => ({ id: u.id, port: u.port })),
      token: TOKEN,
      poolExtra:
        "    breaker: { consecutiveFailures: 3, openFor: 1s, maxOpenFor: 1s, halfOpenProbes: 1 }\n" +
        "    timeouts: { response: 30s }\n",
    });
    sg = await startShardgate(`${yaml}headers:\n  memberHeader: x-member\n`, {
      args: ["--workers", "2"],
      timeoutMs: 60_000,
      // The burst must reach both workers: with the default shared socket the kernel may hand
      // all 40 connections to one of them; node's round-robin hands them out alternately.
      env: { NODE_CLUSTER_SCHED_POLICY: "rr" },
    });
  });
  after(async () => {
    await stopAll();
    await closeAll(upstreams);
  });

  it("a half-open member gets halfOpenProbes requests from the whole instance, not per worker", async (t) => {
    await allWorkersAt(sg, 2, 1);
    const victim = upstreams[0];
    const random = seededRandom(SEED);
    const keys: string[] = [];
    for (let i = 0; i < 2000 && keys.length < 30; i++) {
      const k = `user-${Math.floor(random() * 1e9)}`;
      const r = (await (await fetch(`${sg.adminUrl}/admin/route?pool=users&key=${k}`)).json()) as {
        owner: string;
      };
      if (r.owner === victim.id) keys.push(k);
    }
    assert.ok(keys.length >= 10, `seed ${SEED}: only ${keys.length} keys owned by ${victim.id}`);

    // Failing until the breaker opens (bounded in count and time).
    victim.mode = { kind: "status", status: 503 };
    const t0 = Date.now();
    let sent = 0;
    while ((await breakerOf(sg, victim.id)).state !== "open") {
      assert.ok(
        sent < 300 && Date.now() - t0 < 60_000,
        `seed ${SEED}: breaker not open after ${sent} requests`,
      );
      await getOnFreshConnection(sg.httpUrl, "/fail", keys[sent % keys.length]);
      sent++;
    }
    // Slow from now on, so an admitted probe stays in flight through the burst.
    victim.mode = { kind: "delayHeaders", ms: SLOW_MS };
    const half = await eventually(
      "the breaker half-open",
      async () => {
        const b = await breakerOf(sg, victim.id);
        return b.state === "half-open" ? b : undefined;
      },
      30_000,
      20,
    );
    await allWorkersAt(sg, 2, half.version);
    const before = traffic(victim);
    const from = sg.proc.lines.length;
    const replies = await Promise.all(
      Array.from({ length: BURST }, (_, i) =>
        getOnFreshConnection(sg.httpUrl, "/burst", keys[i % keys.length]),
      ),
    );
    const probes = traffic(victim) - before;
    const pids = new Set(
      sg.proc.lines
        .slice(from)
        .filter((l) => l.type === "access" && l.path === "/burst")
        .map((l) => Number(l.pid)),
    );
    t.diagnostic(`burst of ${BURST} over ${pids.size} workers: ${probes} reached the half-open member`);
    assert.ok(
      replies.every((r) => r.status === 200),
      `seed ${SEED}: ${replies.map((r) => r.status)}`,
    );
    assert.equal(pids.size, 2, `seed ${SEED}: the burst did not reach both workers (${[...pids]})`);
    assert.equal(probes, 1, `seed ${SEED}: ${probes} probes reached ${victim.id} (halfOpenProbes 1)`);
    const byProbe = replies.filter((r) => r.member === victim.id).length;
    assert.equal(byProbe, 1, `seed ${SEED}: answers from ${victim.id}`);
  });
});
