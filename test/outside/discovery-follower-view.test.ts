// `/admin/state` `pools.P.discovery` on every instance of a real fleet (3 voters over the Consul
// double). The watch figures exist only where the watcher runs, the Raft leader; a follower
// showed `watching: false` and nothing else, so an operator asking a follower could not tell
// where to look. Now each view says where the figures are: `on: "here"` on the leader (with the
// figures), `on: "leader"` and the leader's id on a follower.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { AdminDiscoveryView } from "../../proxy/admin/types.js";
import { closeFleet, type Fleet, startFleet } from "../support/cluster/fleet-fixture.js";
import { testSeed } from "../support/prng.js";
import { eventually } from "../support/wait.js";

const SEED = testSeed(7_141);
let fleet: Fleet | undefined;

before(async () => {
  fleet = await startFleet({ seed: SEED, ids: ["a", "b", "c"], voters: 3, accessLog: false });
});

after(async () => {
  await closeFleet(fleet);
});

async function usersDiscovery(adminUrl: string): Promise<AdminDiscoveryView | undefined> {
  const res = await fetch(`${adminUrl}/admin/state`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { pools: Record<string, { discovery?: AdminDiscoveryView }> };
  return body.pools.users?.discovery;
}

test("a follower's discovery view names the leader that holds the figures; the leader's has them", {
  timeout: 240_000,
}, async () => {
  const f = fleet as Fleet;
  const { leader } = await f.cluster.waitConverged();
  const leaderNode = f.cluster.nodes.find((n) => n.id === leader);
  assert.ok(leaderNode !== undefined, f.why(`leader ${leader} is one of the fleet`));
  const here = await eventually(
    "the leader's watch synced",
    async () => {
      const d = await usersDiscovery(leaderNode.adminUrl);
      return d?.synced === true ? d : undefined;
    },
    60_000,
    200,
  );
  assert.equal(here.watching, true, f.why(JSON.stringify(here)));
  assert.equal(here.on, "here", f.why(JSON.stringify(here)));
  assert.equal(here.leader, undefined, f.why(JSON.stringify(here)));
  const followers = f.cluster.nodes.filter((n) => n.id !== leader);
  assert.equal(followers.length, 2);
  for (const n of followers) {
    const d = await usersDiscovery(n.adminUrl);
    assert.deepEqual(
      d,
      { source: "consul", service: here.service, watching: false, on: "leader", leader },
      f.why(`${n.id}: ${JSON.stringify(d)}`),
    );
  }
  // A static pool has no discovery part anywhere.
  const res = await fetch(`${followers[0].adminUrl}/admin/state`);
  const body = (await res.json()) as { pools: Record<string, { discovery?: unknown }> };
  assert.equal(body.pools.catalog?.discovery, undefined);
});
