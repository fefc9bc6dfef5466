// What churned members must not leave behind in a shardgate process, checked after the churn:
// member series in /metrics, open connections to the gone members' servers, and connection
// holders (undici Pools, agents, h2 sessions) on the process's heap.

import assert from "node:assert/strict";
import { heapObjectCounts } from "./inspector-heap.js";
import { promtoolCheckMetrics } from "./promtool.js";
import { labelValues } from "./series-labels.js";
import { eventually } from "./wait.js";

/** /metrics parses (promtool) and names no member outside `current` ("none" and "removed" aside). */
export async function assertOnlyCurrentMembers(
  metrics: string,
  current: ReadonlySet<string>,
  why: string,
): Promise<void> {
  const lint = await promtoolCheckMetrics(metrics);
  assert.equal(lint.code, 0, `promtool check metrics: ${lint.out}`);
  const stale = [...labelValues(metrics, "member")].filter(
    (m) => !current.has(m) && m !== "none" && m !== "removed",
  );
  assert.deepEqual(stale, [], why);
}

/** A gone member's server, counting the connections shardgate holds open to it. */
export interface GoneServer {
  openConnections(): number;
}

/** Waits (30 s, scaled) until no gone server has a connection open; fails listing those that do, as `name` tells. */
export async function waitNoConnections<T extends GoneServer>(
  gone: readonly T[],
  what: string,
  name: (u: T) => string,
  note: string,
): Promise<void> {
  await eventually(
    `no open connection to a gone ${what}`,
    () => (gone.every((u) => u.openConnections() === 0) ? true : undefined),
    30_000,
    50,
  ).catch(() =>
    assert.fail(
      `open connections to gone ${what}s: ${gone
        .filter((u) => u.openConnections() > 0)
        .map((u) => `${name(u)}=${u.openConnections()}`)
        .join(" ")}\n${note}`,
    ),
  );
}

/**
 * Waits (30 s, scaled, a heap count a second) until the process at inspector `url` holds fewer
 * than `bound` objects of class `holder`; resolves with the last count, fails with `failure(count)`.
 */
export async function waitFewerOnHeap(
  url: string,
  holder: string,
  bound: number,
  failure: (held: number) => string,
): Promise<number> {
  let held = -1;
  await eventually(
    `fewer than ${bound} ${holder} objects on the heap`,
    async () => {
      held = (await heapObjectCounts(url, [holder]))[holder];
      return held < bound ? true : undefined;
    },
    30_000,
    1_000,
  ).catch(() => assert.fail(failure(held)));
  return held;
}
