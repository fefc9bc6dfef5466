// cluster.id may come from the file, from --node-id or from SHARDGATE_NODE_ID (README, "Fleet
// agreement"): a file whose cluster section has no id must start with either of the other two,
// the flag wins over the variable, and with none of them a fleet file is refused with a message
// that names all three ways. Real `shardgate start` processes.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { freePorts } from "../support/ports.js";
import {
  fetchJson,
  ShardgateChild,
  startShardgate,
  stopAll,
  TempConfig,
} from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";

const dirs: string[] = [];
after(async () => {
  await stopAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), "shardgate-node-id-"));
  dirs.push(d);
  return d;
}

/** A one-peer fleet file without cluster.id (the peer list names the node the flag or env picks). */
async function fleetYamlWithoutId(upstream: string): Promise<string> {
  const [raft] = await freePorts(1);
  return `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
cluster:
  dataDir: ${dataDir()}
  peers:
    - { id: a, address: 127.0.0.1:${raft} }
pools:
  p:
    members:
      - { id: m1, address: "${upstream}" }
routes:
  - match: { pathPrefix: / }
    pool: p
    key: [header:x-k, ip]
`;
}

async function nodeIdOf(adminUrl: string): Promise<unknown> {
  const r = await fetchJson(`${adminUrl}/admin/state`);
  assert.equal(r.status, 200);
  return (r.body as { raft?: { id?: unknown } }).raft?.id;
}

// The four cases each start (or refuse) their own process on their own ports and data dir: they
// run side by side.
describe("cluster.id from --node-id or SHARDGATE_NODE_ID", { concurrency: true }, async () => {
  const ups = await startUpstreams(1);
  after(() => closeAll(ups));
  const upstream = `127.0.0.1:${ups[0].address.port}`;

  test("a file without cluster.id starts with --node-id", async () => {
    const sg = await startShardgate(await fleetYamlWithoutId(upstream), { args: ["--node-id", "a"] });
    try {
      assert.equal(await nodeIdOf(sg.adminUrl), "a");
      const res = await fetch(`${sg.httpUrl}/`, { headers: { "x-k": "1" } });
      await res.arrayBuffer();
      assert.equal(res.status, 200, "it routes");
    } finally {
      await sg.stop();
    }
  });

  test("a file without cluster.id starts with SHARDGATE_NODE_ID", async () => {
    const sg = await startShardgate(await fleetYamlWithoutId(upstream), { env: { SHARDGATE_NODE_ID: "a" } });
    try {
      assert.equal(await nodeIdOf(sg.adminUrl), "a");
    } finally {
      await sg.stop();
    }
  });

  test("--node-id wins over SHARDGATE_NODE_ID", async () => {
    const sg = await startShardgate(await fleetYamlWithoutId(upstream), {
      args: ["--node-id", "a"],
      env: { SHARDGATE_NODE_ID: "zz" },
    });
    try {
      assert.equal(await nodeIdOf(sg.adminUrl), "a");
    } finally {
      await sg.stop();
    }
  });

  test("without any of the three, the fleet file is refused naming all three", async () => {
    const config = new TempConfig(await fleetYamlWithoutId(upstream));
    try {
      // An empty variable counts as unset (and masks one the test runner may have).
      const proc = new ShardgateChild(["start", "--config", config.path], { env: { SHARDGATE_NODE_ID: "" } });
      const exit = await proc.waitExit(20_000);
      assert.notEqual(exit.code, 0);
      const out = proc.output();
      assert.match(out, /cluster\.id/);
      assert.match(out, /--node-id/);
      assert.match(out, /SHARDGATE_NODE_ID/);
    } finally {
      config.remove();
    }
  });
});
