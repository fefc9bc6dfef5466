// The version gate seen from the proposers, in process on a real three-voter fleet (Raft
// drivers over loopback, real config files loaded off thread): while instance c understands
// only the released level (the test seam), a member-only reload is proposed as the whole
// SetRouting and a PatchRouting is refused at propose time (409 cluster_level_too_low); once c
// is restarted at this build's level the cluster level is committed and the same reload goes
// as a PatchRouting that every instance applies. A committed command of a later version stops
// every instance's applier: degraded "upgrade_required", proposals answered 503 with the code.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadConfigFile } from "../../config/file/load.js";
import { consulAgentSchema, type ShardgateConfig } from "../../config/file/schema.js";
import { SILENT_LOG } from "../../config/log-sink.js";
import { CURRENT_LEVEL, RELEASED_LEVEL } from "../../config/raft/core/index.js";
import { DriverError } from "../../config/raft/driver.js";
import { proposalError } from "../../proxy/app/errors.js";
import { ClusterNode } from "../../proxy/cluster/cluster-node.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { voterSettings } from "../support/cluster/one-voter.js";
import { testReloader } from "../support/cluster/test-reloader.js";
import { freePorts } from "../support/ports.js";
import { poolConfig } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const IDS = ["a", "b", "c"] as const;
const SECRET = "cluster-level-test-secret-0123456789";
const dir = mkdtempSync(join(tmpdir(), "sg-cluster-level-"));
const nodes = new Map<string, ClusterNode>();
after(async () => {
  await Promise.all([...nodes.values()].map((n) => n.stop()));
  rmSync(dir, { recursive: true, force: true });
});

const yaml = (ids: readonly string[]) =>
  poolConfig({ members: ids.map((id, i) => ({ id, port: 9100 + i })), accessLog: false });

async function load(path: string): Promise<ShardgateConfig> {
  const r = await loadConfigFile(path, {});
  if (!r.ok) throw new Error(`test config invalid: ${JSON.stringify(r.errors)}`);
  return r.config;
}

/** Command types each instance applied, in order. */
const appliedTypes = new Map<string, string[]>();

function node(id: string, peers: Record<string, string>, config: ShardgateConfig, level?: number) {
  // Kept on stop: c is restarted on its data directory.
  const settings = voterSettings({ id, peers, dataDir: join(dir, id), secret: SECRET, ephemeral: false });
  const types = appliedTypes.get(id) ?? [];
  appliedTypes.set(id, types);
  const n = new ClusterNode({
    settings,
    logger: SILENT_LOG,
    fileRouting: () => ({ pools: config.pools, routes: config.routes }),
    agent: consulAgentSchema.parse({}),
    outcomes: new OutcomeRecorders(),
    onApplied: (change) => {
      if (change?.applied) types.push(change.type ?? "?");
    },
    ...(level === undefined ? {} : { level }),
  });
  nodes.set(id, n);
  return n;
}

const members = (n: ClusterNode) => n.state.pools.users?.members.map((m) => m.id).join(",");

test("PatchRouting waits for the cluster level; a later version's command stops every applier", {
  timeout: 120_000,
}, async () => {
  const path = join(dir, "shardgate.yaml");
  writeFileSync(path, yaml(["u1", "u2", "u3"]));
  const initial = await load(path);
  const ports = await freePorts(IDS.length);
  const peers = Object.fromEntries(IDS.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
  node("a", peers, initial);
  node("b", peers, initial);
  node("c", peers, initial, RELEASED_LEVEL);
  await Promise.all([...nodes.values()].map((n) => n.start()));
  const all = () => [...nodes.values()];
  const leader = () => all().find((n) => n.isLeader);
  await eventually(
    "the seeded routing everywhere and c's level heard by the leader",
    () => {
      const l = leader();
      const levels = l?.raftView().memberLevels;
      return all().every((n) => n.state.routing !== null) && levels?.c === 0 ? levels : undefined;
    },
    30_000,
  );
  for (const n of all()) {
    assert.equal(n.raftView().clusterLevel, RELEASED_LEVEL, `${n.settings.id}: the released level`);
    // /admin/state's raft.clusterId: null while no id is fixed (a fleet mid-upgrade has none).
    assert.equal(n.raftView().clusterId, null, `${n.settings.id}: no cluster id yet`);
    assert.equal(n.levelHas("PatchRouting"), false);
  }
  const views = Object.fromEntries(all().map((n) => [n.settings.id, n.raftView().level]));
  assert.deepEqual(
    views,
    { a: CURRENT_LEVEL, b: CURRENT_LEVEL, c: RELEASED_LEVEL },
    "each advertises its own",
  );

  // A member-only reload is proposed whole: c applies it like everyone.
  const a = nodes.get("a") as ClusterNode;
  writeFileSync(path, yaml(["u1", "u2", "u3", "u4"]));
  const first = await testReloader(initial, path, () => a).reload("test");
  assert.ok(first.ok, JSON.stringify(first));
  await eventually(
    "u4 everywhere",
    () => (all().every((n) => members(n) === "u1,u2,u3,u4") ? true : undefined),
    20_000,
  );
  for (const [id, types] of appliedTypes)
    assert.ok(!types.includes("PatchRouting"), `${id}: ${types.join(" ")}`);
  assert.equal(appliedTypes.get("c")?.at(-1), "SetRouting");

  // Proposed directly, a patch is refused before it reaches the log.
  const lastBefore = a.raftView().commitIndex;
  const refused = await a
    .propose({ v: 1, type: "PatchRouting", base: "0".repeat(64), pools: {} } as never)
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  assert.ok(refused instanceof DriverError && refused.code === "LEVEL_TOO_LOW", String(refused));
  const answer = proposalError(refused);
  assert.equal(answer.status, 409);
  assert.equal(answer.error, "cluster_level_too_low");
  assert.equal(a.raftView().commitIndex, lastBefore, "nothing was proposed");

  // c is upgraded: restarted on its data directory at this build's level.
  await (nodes.get("c") as ClusterNode).stop();
  const c = node("c", peers, initial);
  await c.start();
  await eventually(
    "the cluster level committed everywhere",
    () => (all().every((n) => n.levelHas("PatchRouting")) ? true : undefined),
    30_000,
  );
  const reloaded = await load(path);
  writeFileSync(path, yaml(["u1", "u2", "u3", "u4", "u5"]));
  const second = await testReloader(reloaded, path, () => a).reload("test");
  assert.ok(second.ok, JSON.stringify(second));
  await eventually(
    "u5 everywhere",
    () => (all().every((n) => members(n) === "u1,u2,u3,u4,u5") ? true : undefined),
    20_000,
  );
  for (const id of IDS) assert.equal(appliedTypes.get(id)?.at(-1), "PatchRouting", `${id} applied the patch`);
  // The upgraded fleet fixed its id: every node shows the same one.
  const ids = await eventually(
    "one cluster id on every node",
    () => {
      const got = all().map((n) => n.raftView().clusterId);
      return got.every((id) => typeof id === "string" && id === got[0]) ? got : undefined;
    },
    20_000,
  );
  assert.match(String(ids[0]), /^[0-9a-f]{16}$/);

  // A later version's command (bypassing this build's validation, as a newer proposer would).
  const future = Buffer.from(JSON.stringify({ v: 2, type: "SetRouting", routing: {} }));
  // Under load leadership may move while it is in flight ("outcome unknown", and the entry may be
  // lost with the old leader's tail): propose again through the current leader until an applier
  // has stopped on it. A second copy behind the first is never applied.
  await eventually(
    "a later version's command committed",
    async () => {
      if (all().some((n) => n.degradedReason() === "upgrade_required")) return true;
      const err = await (leader() ?? a).driver.propose(future).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (err instanceof DriverError && err.code === "UPGRADE_REQUIRED") return true;
      return all().some((n) => n.degradedReason() === "upgrade_required") ? true : undefined;
    },
    20_000,
  );
  await eventually(
    "every instance stopped applying, degraded upgrade_required",
    () => {
      if (all().every((n) => n.degradedReason() === "upgrade_required")) return true;
      // Thrown, not returned: on a timeout the message names where each node stood.
      // A node whose driver stopped throws from raftView(): say so and print the rest.
      const where = all().map((n) => {
        const known = `${n.settings.id}: ${n.degradedReason()} stopped=${n.raftStoppedCause ?? "-"}`;
        try {
          const v = n.raftView();
          return `${known} ${v.role} leader=${v.leader} term=${v.term} commit=${v.commitIndex} applied=${v.appliedIndex}`;
        } catch (err) {
          return `${known} (no raft view: ${err instanceof Error ? err.message : String(err)})`;
        }
      });
      throw new Error(where.join("; "));
    },
    20_000,
  );
  for (const n of all()) assert.match(n.raftStoppedCause ?? "", /command version 2/);
  const stopped = await a.propose({ v: 1, type: "Drain", pool: "users", member: "u1" }).then(
    () => undefined,
    (err: unknown) => err,
  );
  const coded = proposalError(stopped);
  assert.equal(coded.status, 503);
  assert.equal(coded.error, "upgrade_required");
  assert.ok((coded.retryAfterS ?? 0) > 0, "with Retry-After");
  // The routing applied before the unreadable entry stays served.
  for (const n of all()) assert.equal(members(n), "u1,u2,u3,u4,u5");
});
