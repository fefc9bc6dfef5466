// The seeded nemesis (issue 9): three real shardgate voters; for `durationMs`, kill -9,
// restart, cut off and heal instances at random while ONE writer drains and undrains static
// members through random live instances. Then everything heals and restarts, and the check:
// every instance converges to one ring version, and each member's final drain flag is what
// its last acknowledged operation set, unless a later (unacknowledged, so possibly committed)
// operation on the same member set the other value. The schedule depends only on the seed.
import { errorText } from "../../../config/coded-error.js";
import { closeFleet, type Fleet, startFleet } from "../../support/cluster/fleet-fixture.js";
import { sleep } from "../../support/cluster/http-client.js";
import type { FleetNode } from "../../support/cluster-launcher.js";

export interface NemesisResult {
  seed: number;
  ok: boolean;
  problems: string[];
  actions: string[];
  attempts: number;
  acked: number;
  ringVersion: number;
}

interface Attempt {
  member: string;
  draining: boolean;
  acked: boolean;
}

/**
 * `minFaults`: the fault phase goes on past `durationMs` until that many faults were made (a
 * loaded machine stretches each restart), bounded by twice `durationMs`.
 */
export async function runNemesis(seed: number, durationMs: number, minFaults = 0): Promise<NemesisResult> {
  const fleet: Fleet = await startFleet({ seed, ids: ["a", "b", "c"], voters: 3 });
  const actions: string[] = [];
  const attempts: Attempt[] = [];
  const problems: string[] = [];
  let ringVersion = 0;
  try {
    const { cluster, ups } = fleet;
    const rand = fleet.random;
    const members = ups.ids;
    const cut = new Set<string>();
    const end = performance.now() + durationMs;
    let stop = false;

    const writer = (async () => {
      // Bounded in count and time.
      for (let i = 0; i < 3_000 && !stop; i++) {
        const live = cluster.nodes.filter((n) => n.alive);
        if (live.length === 0) {
          await sleep(100);
          continue;
        }
        const via = live[Math.floor(rand() * live.length)];
        const member = members[Math.floor(rand() * members.length)];
        const draining = rand() < 0.5;
        const a: Attempt = { member, draining, acked: false };
        attempts.push(a);
        const path = `/admin/pools/catalog/members/${member}/${draining ? "drain" : "undrain"}`;
        const r = await cluster.adminPost(via, path).catch(() => undefined);
        a.acked = r?.status === 200;
        await sleep(a.acked ? 20 : 50);
      }
    })();

    const nemesis = async () => {
      const dead = cluster.nodes.filter((n) => !n.alive);
      const alive = cluster.nodes.filter((n) => n.alive);
      const pick = (xs: FleetNode[]) => xs[Math.floor(rand() * xs.length)];
      const r = rand();
      if (dead.length > 0 && (r < 0.35 || alive.length === 1)) {
        const n = pick(dead);
        actions.push(`restart ${n.id}`);
        await cluster.restart(n);
        cut.delete(n.id);
        await cluster.rejoin(n).catch(() => undefined);
      } else if (r < 0.6 && alive.length > 1) {
        const n = pick(alive);
        actions.push(`kill -9 ${n.id}`);
        await cluster.kill9(n);
      } else if (r < 0.8) {
        const n = pick(alive.filter((x) => !cut.has(x.id)));
        if (n === undefined) return;
        actions.push(`cut ${n.id}`);
        cut.add(n.id);
        await cluster.isolate(n).catch(() => undefined);
      } else {
        const n = pick(alive.filter((x) => cut.has(x.id)));
        if (n === undefined) return;
        actions.push(`heal ${n.id}`);
        cut.delete(n.id);
        await cluster.rejoin(n).catch(() => undefined);
      }
    };
    const hardEnd = end + durationMs;
    for (;;) {
      const now = performance.now();
      if (now >= hardEnd || (now >= end && actions.length >= minFaults)) break;
      await nemesis();
      await sleep(500 + Math.floor(rand() * 2_000));
    }
    stop = true;
    await writer;
    for (const n of cluster.nodes) if (!n.alive) await cluster.restart(n);
    for (const n of cluster.nodes) await cluster.rejoin(n);
    actions.push("heal all, restart all");
    const done = await cluster.waitConverged({ timeoutMs: 60_000 });
    ringVersion = done.ringVersion;
    for (const m of members) {
      const mine = attempts.filter((x) => x.member === m);
      let lastAck = -1;
      for (let i = 0; i < mine.length; i++) if (mine[i].acked) lastAck = i;
      const allowed = new Set<boolean>();
      if (lastAck >= 0) allowed.add(mine[lastAck].draining);
      else allowed.add(false);
      for (let i = lastAck + 1; i < mine.length; i++) allowed.add(mine[i].draining);
      for (const [id, s] of done.states) {
        const got = s.pools.catalog?.members.find((x) => x.id === m)?.draining;
        if (got === undefined || !allowed.has(got))
          problems.push(
            `${id}: ${m} draining=${got}, allowed ${[...allowed].join("/")} (last ack #${lastAck})`,
          );
      }
    }
  } catch (err) {
    problems.push(`run failed: ${errorText(err)}`);
  } finally {
    await closeFleet(fleet).catch((err: unknown) => problems.push(`close: ${String(err)}`));
  }
  return {
    seed,
    ok: problems.length === 0,
    problems,
    actions,
    attempts: attempts.length,
    acked: attempts.filter((a) => a.acked).length,
    ringVersion,
  };
}
