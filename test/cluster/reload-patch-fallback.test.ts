// The reloader's fallback, in process on a real one-voter cluster (Raft driver on loopback,
// real config file loaded off thread): when another routing commits between the reload's
// diff and its PatchRouting, the patch is refused (routing_changed) and the reload proposes
// the whole SetRouting, so the committed routing still ends up the file's.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadConfigFile } from "../../config/file/load.js";
import { consulAgentSchema } from "../../config/file/schema.js";
import { SILENT_LOG } from "../../config/log-sink.js";
import type { CommandInput } from "../../config/state/commands.js";
import { configDrift } from "../../config/state/drift.js";
import { ClusterNode } from "../../proxy/cluster/cluster-node.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { oneVoterSettings } from "../support/cluster/one-voter.js";
import { testReloader } from "../support/cluster/test-reloader.js";
import { freePorts } from "../support/ports.js";
import { poolConfig } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "sg-reload-fallback-"));
let node: ClusterNode | undefined;
after(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const yaml = (ids: readonly string[]) =>
  poolConfig({ members: ids.map((id, i) => ({ id, port: 9100 + i })), accessLog: false });

async function load(path: string) {
  const r = await loadConfigFile(path, {});
  if (!r.ok) throw new Error(`test config invalid: ${JSON.stringify(r.errors)}`);
  return r.config;
}

test("a patch refused because another routing committed first is followed by the whole routing", async () => {
  const path = join(dir, "shardgate.yaml");
  writeFileSync(path, yaml(["u1", "u2", "u3"]));
  const initial = await load(path);
  const [port] = await freePorts(1);
  const cluster = new ClusterNode({
    settings: oneVoterSettings(port, join(dir, "data"), "reload-fallback-test-secret-0123"),

    logger: SILENT_LOG,
    fileRouting: () => ({ pools: initial.pools, routes: initial.routes }),
    agent: consulAgentSchema.parse({}),
    outcomes: new OutcomeRecorders(),
    onApplied: () => undefined,
  });
  node = cluster;
  await cluster.start();
  await eventually("the seeded routing", () => (cluster.state.routing !== null ? true : undefined), 20_000);

  // Another instance's reload (u1 removed) commits after this reload computed its patch.
  const otherPath = join(dir, "other.yaml");
  writeFileSync(otherPath, yaml(["u2", "u3"]));
  const other = await load(otherPath);
  const proposed: string[] = [];
  const real = cluster.proposeWithRetry.bind(cluster);
  cluster.proposeWithRetry = async (cmd: CommandInput, deadlineMs?: number) => {
    proposed.push(cmd.type);
    if (proposed.length === 1)
      await real({ v: 1, type: "SetRouting", routing: { pools: other.pools, routes: other.routes } });
    return real(cmd, deadlineMs);
  };

  const reloader = testReloader(initial, path, () => cluster);
  writeFileSync(path, yaml(["u1", "u2", "u3", "u4"]));
  const outcome = await reloader.reload("test");
  assert.ok(outcome.ok, JSON.stringify(outcome));
  assert.deepEqual(
    proposed,
    ["PatchRouting", "SetRouting"],
    "the refused patch is followed by the whole routing",
  );
  const ids = cluster.state.pools.users.members.map((m) => m.id);
  assert.deepEqual(ids, ["u1", "u2", "u3", "u4"]);
  const file = await load(path);
  assert.equal(configDrift({ pools: file.pools, routes: file.routes }, cluster.state).drift, false);
});
