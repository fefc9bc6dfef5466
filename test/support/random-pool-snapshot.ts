// A routing snapshot of one pool `p` whose members are drawn at random, for the member-choice
// tests that check a walk past members that cannot take requests: m0..m{n-1} on loopback ports
// 9000+i, each unhealthy (15%) or draining (10%) and, when asked, breaker half-open (10%).

import { configSchema } from "../../config/file/schema.js";
import { buildPoolSnapshot } from "../../proxy/routing/pool-snapshot.js";
import type { PoolSnapshot } from "../../proxy/routing/types.js";

export interface RandomPoolOptions {
  algorithm: "ring" | "maglev";
  members: number;
  /** Drawn per member in order: healthy, draining, then half-open when `halfOpen`. */
  rand: () => number;
  balanceFactor?: number;
  halfOpen?: boolean;
}

export function randomPoolSnapshot(o: RandomPoolOptions): PoolSnapshot {
  const { algorithm, balanceFactor, rand } = o;
  const settings = configSchema.parse({
    pools: { p: { members: [], algorithm, ...(balanceFactor === undefined ? {} : { balanceFactor }) } },
    routes: [{ pool: "p", key: ["ip"] }],
  }).pools.p;
  return buildPoolSnapshot({
    name: "p",
    settings,
    ringVersion: 1,
    members: Array.from({ length: o.members }, (_, i) => ({
      id: `m${i}`,
      address: { host: "127.0.0.1", port: 9000 + i },
      weight: 1,
      healthy: rand() > 0.15,
      draining: rand() < 0.1,
      ...(o.halfOpen === true ? { breakerHalfOpen: rand() < 0.1 } : {}),
    })),
  });
}
