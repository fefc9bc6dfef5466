// Fleet rows of the scale bench: 3 voters with a few and with many learners (real shardgate
// processes, the standard fleet fixture with its Consul double and 4 upstreams). Per fleet:
// a drain through the leader's admin API until every instance shows it (median of drains and
// undrains), and the leader's CPU while the fleet is idle.

import { type Fleet, member, startFleet } from "../../test/support/cluster/fleet-fixture.js";
import { eventually } from "../../test/support/wait.js";
import { cpuSeconds } from "../proxy-bench.js";
import { median } from "./processes.js";

export interface FleetFigure {
  readonly learners: number;
  readonly drainMs: number;
  /** Leader CPU while idle, in % of one core. */
  readonly leaderIdleCpu: number;
}

async function untilAll(fleet: Fleet, draining: boolean, id: string, t0: number): Promise<number> {
  return eventually(
    `${id} draining=${draining} on every instance`,
    async () => {
      const states = await fleet.cluster.states();
      for (const s of states.values()) if (member(s, "catalog", id)?.draining !== draining) return undefined;
      return states.size === fleet.cluster.nodes.length ? performance.now() - t0 : undefined;
    },
    30_000,
    5,
  );
}

export async function measureFleet(
  learnerCounts: readonly number[],
  repeats: number,
  seed: number,
): Promise<FleetFigure[]> {
  const out: FleetFigure[] = [];
  for (const learners of learnerCounts) {
    const ids = ["a", "b", "c", ...Array.from({ length: learners }, (_, i) => `l${i + 1}`)];
    const fleet = await startFleet({
      seed,
      ids,
      level: "warn",
      accessLog: false,
      startTimeoutMs: 300_000,
      // 23 processes starting on a loaded 2-core machine take minutes to agree.
      convergeTimeoutMs: 300_000,
    });
    try {
      const states = await fleet.cluster.states();
      const leaderId = [...states.values()][0]?.raft.leader;
      const leader = fleet.cluster.nodes.find((n) => n.id === leaderId);
      if (leader === undefined || leader.pid === undefined) throw new Error("no leader");
      // Idle CPU first, before anything polls the fleet.
      const c0 = cpuSeconds(leader.pid);
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 5_000));
      const leaderIdleCpu = (100 * (cpuSeconds(leader.pid) - c0)) / ((performance.now() - t0) / 1000);
      const target = fleet.ups.ids[0];
      const samples: number[] = [];
      for (let r = 0; r < repeats; r++) {
        for (const draining of [true, false]) {
          const t = performance.now();
          const res = await fetch(
            `${leader.adminUrl}/admin/pools/catalog/members/${target}/${draining ? "drain" : "undrain"}`,
            { method: "POST", headers: { authorization: `Bearer ${fleet.cluster.adminToken}` } },
          );
          await res.text();
          if (res.status !== 200) throw new Error(`drain: HTTP ${res.status}`);
          samples.push(await untilAll(fleet, draining, target, t));
        }
      }
      out.push({ learners, drainMs: median(samples), leaderIdleCpu });
    } finally {
      await fleet.close();
    }
  }
  return out;
}
