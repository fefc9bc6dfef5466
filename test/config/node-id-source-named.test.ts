// A node id given outside the file that is not one (`--node-id "bad id"`, SHARDGATE_NODE_ID):
// `validate` refused it as `c.yaml: cluster: node id "bad id": ...`, which reads as if the file
// held it and sends the operator looking there. The error now names where the value came
// from. Real `shardgate validate` processes.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";

test("a bad node id from --node-id or SHARDGATE_NODE_ID is named by its source", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-node-id-source-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "c.yaml");
  writeFileSync(
    file,
    "listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }\npools:\n  users:\n    members: [{ id: u1, address: 127.0.0.1:9101 }]\nroutes:\n  - { pool: users, key: [ip] }\n",
  );
  const [flag, env] = await Promise.all([
    runShardgate(["validate", "--config", file, "--node-id", "bad id"]),
    runShardgate(["validate", "--config", file], { SHARDGATE_NODE_ID: "bad/id" }),
  ]);
  assert.equal(flag.code, 1, flag.stderr);
  assert.match(flag.stderr, /--node-id "bad id": expected a node id: letters, digits/);
  assert.equal(env.code, 1, env.stderr);
  assert.match(env.stderr, /SHARDGATE_NODE_ID "bad\/id": expected a node id: letters, digits/);
});
