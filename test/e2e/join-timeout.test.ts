// Issue 9, fix 2: an instance on an empty data directory without `bootstrap: new` never founds
// a cluster by itself; when no member admits it (here: its peers do not exist) it exits 1 with
// a clear reason on stderr instead of waiting forever or electing itself.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fleetConfigYaml } from "../support/cluster/fleet-config.js";
import { fleetNodeSpecs } from "../support/cluster/fleet-node-specs.js";
import { ShardgateChild } from "../support/shardgate-process.js";
import { START_DEADLINE_MS } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "sg-join-timeout-"));
let child: ShardgateChild | undefined;
after(async () => {
  await child?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a joiner nobody admits exits 1 naming the reason", async () => {
  const specs = await fleetNodeSpecs(["a", "b", "c"], dir);
  const yaml = fleetConfigYaml({
    self: specs[0],
    nodes: specs,
    voters: ["a", "b", "c"],
    consulAddress: "127.0.0.1:1",
    electionTimeoutMs: 300,
    heartbeatMs: 50,
    adminToken: "tok-0123456789abcdef",
    routingYaml: `pools:
  users:
    members:
      - { id: u1, address: "127.0.0.1:9" }
routes:
  - { pool: users, key: [header:x-user-id] }
`,
  }).replace("  faultInjection:", "  joinTimeout: 1500ms\n  faultInjection:");
  const cfgPath = join(dir, "a.yaml");
  writeFileSync(cfgPath, yaml);
  child = new ShardgateChild(["start", "--config", cfgPath], {
    env: { SHARDGATE_CLUSTER_SECRET: "join-timeout-secret-0123456789" },
  });
  // The start itself can take tens of seconds on a loaded machine; the join timeout runs after it.
  const r = await child.waitExit(START_DEADLINE_MS);
  assert.equal(r.code, 1, child.output());
  assert.match(child.stderr, /node "a" could not join: no member admitted it within 1\.5s/);
  assert.match(child.stderr, /--bootstrap/);
});
