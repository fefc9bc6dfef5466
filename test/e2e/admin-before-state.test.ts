// Issue 9, fix 9: an instance that has not applied the cluster state yet (here: one member of
// a three-voter fleet whose peers never start) answers admin writes with 503
// "no_committed_state" and Retry-After, not 404 "unknown_pool" as if the pool did not exist.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fleetConfigYaml } from "../support/cluster/fleet-config.js";
import { fleetNodeSpecs } from "../support/cluster/fleet-node-specs.js";
import { httpRequest, sleep } from "../support/cluster/http-client.js";
import { ShardgateChild } from "../support/shardgate-process.js";
import { START_DEADLINE_MS, scaled } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "sg-admin-before-"));
let child: ShardgateChild | undefined;
after(async () => {
  await child?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("admin writes before the state is applied: 503 no_committed_state with Retry-After", async () => {
  const specs = await fleetNodeSpecs(["a", "b", "c"], dir);
  const cfgPath = join(dir, "a.yaml");
  writeFileSync(
    cfgPath,
    fleetConfigYaml({
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
    }),
  );
  child = new ShardgateChild(["start", "--config", cfgPath], {
    env: { SHARDGATE_CLUSTER_SECRET: "admin-before-state-secret-0123" },
  });
  const admin = `http://127.0.0.1:${specs[0].adminPort}`;
  // Until the admin port answers, the process is still starting: the harness's start deadline
  // (a fixed 20 s here ran out at load 13 before the port was bound).
  const deadline = Date.now() + scaled(START_DEADLINE_MS);
  let r: Awaited<ReturnType<typeof httpRequest>> | undefined;
  while (Date.now() < deadline) {
    if (child.exit !== undefined) assert.fail(`exited: ${child.stderr}`);
    r = await httpRequest(`${admin}/admin/pools/users/members/u1/drain`, {
      method: "POST",
      json: {},
      headers: { authorization: "Bearer tok-0123456789abcdef" },
      timeoutMs: 10_000,
      fresh: true,
    }).catch(() => undefined);
    if (r !== undefined) break;
    await sleep(50);
  }
  assert.ok(r !== undefined, "the admin API answered");
  assert.equal(r.status, 503, r.text);
  assert.equal((r.body as { error: string }).error, "no_committed_state", r.text);
  assert.equal(r.headers["retry-after"], "1");
});
