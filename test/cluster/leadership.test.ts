// The leader-only controllers follow Raft leadership, in process: three ClusterNodes on
// loopback, exactly one of which runs the breaker, health and membership controllers; when
// leadership is handed over, or the leader stops, the new leader starts them and nobody else
// runs them. Real Raft drivers and TCP
// transports on free loopback ports; every node is stopped at the end.

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseRouting } from "../../config/file/load.js";
import { consulAgentSchema } from "../../config/file/schema.js";
import { SILENT_LOG } from "../../config/log-sink.js";
import { ClusterNode } from "../../proxy/cluster/cluster-node.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { voterSettings } from "../support/cluster/one-voter.js";
import { freePorts } from "../support/ports.js";
import { eventually } from "../support/wait.js";

const IDS = ["a", "b", "c"] as const;
const SECRET = "leadership-test-secret-0123456789";

const routing = parseRouting({
  pools: {
    users: {
      members: [
        { id: "u1", address: "127.0.0.1:9" },
        { id: "u2", address: "127.0.0.1:10" },
      ],
    },
  },
  routes: [{ pool: "users", key: ["header:x-user-id"] }],
});
if (!routing.ok) throw new Error(`test routing invalid: ${JSON.stringify(routing.errors)}`);
const fileRouting = routing.routing;

const nodes: ClusterNode[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
});

/** Which nodes run the controllers; a leader-only controller running on two nodes is a bug. */
function running(): string[] {
  return nodes
    .filter((n) => n.breakers.isRunning || n.health.isRunning || n.membership.isRunning)
    .map((n) => n.settings.id);
}

/** True when `n` runs all three controllers (a half-started leader is not "running"). */
function allRunning(n: ClusterNode): boolean {
  return n.breakers.isRunning && n.health.isRunning && n.membership.isRunning;
}

test("controllers run on the leader only, and move with leadership", { timeout: 60_000 }, async () => {
  const ports = await freePorts(IDS.length);
  const peers: Record<string, string> = {};
  IDS.forEach((id, i) => {
    peers[id] = `127.0.0.1:${ports[i]}`;
  });
  for (const id of IDS) {
    // Ephemeral: the node removes its data directory on stop.
    const settings = voterSettings({
      id,
      peers,
      dataDir: mkdtempSync(join(tmpdir(), `sg-lead-${id}-`)),
      secret: SECRET,
    });
    const node = new ClusterNode({
      settings,
      logger: SILENT_LOG,
      fileRouting: () => fileRouting,
      agent: consulAgentSchema.parse({}),
      outcomes: new OutcomeRecorders(),
      onApplied: () => undefined,
    });
    nodes.push(node);
  }
  await Promise.all(nodes.map((n) => n.start()));

  const first = await eventually(
    "a leader with its controllers started and the routing seeded",
    () => {
      const leaders = nodes.filter((n) => n.isLeader);
      if (leaders.length !== 1 || !allRunning(leaders[0])) return undefined;
      return nodes.every((n) => n.state.routing !== null) ? leaders[0] : undefined;
    },
    20_000,
  );
  assert.deepEqual(running(), [first.settings.id], "controllers run on the leader and nowhere else");

  // Leadership moves while everyone stays up: the old leader must stop its controllers.
  const target = nodes.find((n) => n !== first) as ClusterNode;
  await first.driver.transferLeadership(target.settings.id);
  await eventually(
    `${target.settings.id} leads and alone runs the controllers`,
    () => (target.isLeader && allRunning(target) && running().length === 1 ? true : undefined),
    20_000,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; running: ${running().join(", ")}`);
  });

  const leader = target;
  await leader.stop();
  assert.ok(!running().includes(leader.settings.id), "a stopped node runs no controller");
  const rest = nodes.filter((n) => n !== leader);
  const second = await eventually(
    "a new leader with its controllers started",
    () => {
      const leaders = rest.filter((n) => n.isLeader);
      return leaders.length === 1 && allRunning(leaders[0]) ? leaders[0] : undefined;
    },
    20_000,
  );
  assert.notEqual(second.settings.id, leader.settings.id);
  assert.deepEqual(running(), [second.settings.id], "the follower that stayed runs no controller");
  assert.deepEqual(second.state.routing, leader.state.routing, "the new leader did not re-seed the state");

  // A pool that leaves the committed state leaves the panic map (and so shardgate_pool_panic).
  for (const n of rest) n.panics.set("users", false);
  const moved = parseRouting({
    pools: { other: { members: [{ id: "o1", address: "127.0.0.1:11" }] } },
    routes: [{ pool: "other", key: ["header:x-user-id"] }],
  });
  if (!moved.ok) throw new Error(`test routing invalid: ${JSON.stringify(moved.errors)}`);
  await second.propose({ v: 1, type: "SetRouting", routing: moved.routing });
  await eventually("every node applied the new routing", () =>
    rest.every((n) => n.state.pools.other !== undefined) ? true : undefined,
  );
  for (const n of rest)
    assert.equal(n.panics.has("users"), false, `${n.settings.id} forgot the removed pool`);
});
