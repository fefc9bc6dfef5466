// The key spelling rules switch at one log index in a mixed-version fleet (feature level 4,
// LEVEL_KEY_SPELLING). A real three-voter fleet (Raft drivers over loopback, real config files,
// in process as test/cluster/cluster-level.test.ts) where c advertises level 3 (the `level` test
// seam): each instance's routing (CommittedRouting, rebuilt from every applied entry and switched
// by ClusterNode's onClusterLevel as join-cluster.ts does) reads the path key /u/<k>%21b by the
// previous rules, so every instance names the member of "<k>%21b". c is then upgraded (restarted
// at CURRENT_LEVEL on its data directory): the level entry commits and every instance, c too,
// names the member of "<k>!b", the same one on all three; and so does an instance restarted
// after that (the level replayed from its data directory).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadConfigFile } from "../../config/file/load.js";
import { consulAgentSchema, type ShardgateConfig } from "../../config/file/schema.js";
import { SILENT_LOG } from "../../config/log-sink.js";
import { CURRENT_LEVEL, LEVEL_KEY_SPELLING } from "../../config/raft/core/index.js";
import { ClusterNode } from "../../proxy/cluster/cluster-node.js";
import { CommittedRouting, keyRulesAt } from "../../proxy/cluster/committed-routing.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { extractKey } from "../../proxy/routing/key-extract.js";
import { chooseMember } from "../../proxy/routing/member-choice.js";
import { hashKey } from "../../ring/hash.js";
import { voterSettings } from "../support/cluster/one-voter.js";
import { freePorts } from "../support/ports.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { poolConfig } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const SEED = testSeed(4115);
const random = seededRandom(SEED);
const IDS = ["a", "b", "c"] as const;
const SECRET = "key-rules-fleet-test-secret-0123456789";
const dir = mkdtempSync(join(tmpdir(), "sg-key-rules-"));
const nodes = new Map<string, { node: ClusterNode; routing: CommittedRouting }>();
after(async () => {
  await Promise.all([...nodes.values()].map((n) => n.node.stop()));
  rmSync(dir, { recursive: true, force: true });
});

const MEMBERS = ["u1", "u2", "u3", "u4", "u5"];
const yaml = poolConfig({
  members: MEMBERS.map((id, i) => ({ id, port: 9100 + i })),
  accessLog: false,
}).replace("key: [header:x-user-id, query:user, ip]", "key: [path:2]");

async function load(path: string): Promise<ShardgateConfig> {
  const r = await loadConfigFile(path, {});
  if (!r.ok) throw new Error(`test config invalid: ${JSON.stringify(r.errors)}`);
  return r.config;
}

function start(id: string, peers: Record<string, string>, config: ShardgateConfig, level?: number) {
  // Kept on stop: c is restarted on its data directory.
  const settings = voterSettings({ id, peers, dataDir: join(dir, id), secret: SECRET, ephemeral: false });
  // As app.ts: a clustered instance starts on the previous rules.
  const routing = new CommittedRouting(() => null, "v3");
  routing.applyProvisional(config);
  const node = new ClusterNode({
    settings,
    logger: SILENT_LOG,
    fileRouting: () => ({ pools: config.pools, routes: config.routes }),
    agent: consulAgentSchema.parse({}),
    outcomes: new OutcomeRecorders(),
    onApplied: (change, _before, after) => {
      if (change === null || change.applied)
        routing.apply(after, change === null ? "all" : change.poolsChanged, true);
    },
    // As join-cluster.ts.
    onClusterLevel: (level) => routing.setKeyRules(keyRulesAt(level)),
    ...(level === undefined ? {} : { level }),
  });
  nodes.set(id, { node, routing });
  return node;
}

/** The member instance `id` routes `url` to now, with its committed cluster level. */
function routed(id: string, url: string): { member: string; level: number } {
  const n = nodes.get(id);
  assert.ok(n !== undefined);
  const state = n.routing.current();
  const route = state.routeTable.match(undefined, url);
  assert.ok(route !== null, `${id}: a route for ${url}`);
  const req = {
    url,
    headers: {},
    rawHeaders: [],
    socket: { remoteAddress: "127.0.0.1" },
  } as unknown as IncomingMessage;
  const snap = state.pools.get("users");
  assert.ok(snap !== undefined);
  const index = chooseMember(snap, hashKey(extractKey(route.keyPlan, req)), null, 0);
  return { member: snap.members[index].id, level: n.node.raftView().clusterLevel ?? 0 };
}

/** The member `key` hashes to in a snapshot of the five members (the same on every instance). */
function ownerOf(key: string): string {
  const snap = nodes.get("a")?.routing.current().pools.get("users");
  assert.ok(snap !== undefined);
  return snap.members[chooseMember(snap, hashKey(key), null, 0)].id;
}

test("a path key with an escape names one member on every instance, before and after the level rises", {
  timeout: 120_000,
}, async () => {
  const path = join(dir, "shardgate.yaml");
  writeFileSync(path, yaml);
  const config = await load(path);
  const ports = await freePorts(IDS.length);
  const peers = Object.fromEntries(IDS.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
  start("a", peers, config);
  start("b", peers, config);
  start("c", peers, config, LEVEL_KEY_SPELLING - 1);
  await Promise.all([...nodes.values()].map((n) => n.node.start()));
  const all = () => [...nodes.values()];
  await eventually(
    "the seeded routing applied everywhere and c's level heard by the leader",
    () => {
      const levels = all()
        .find((n) => n.node.isLeader)
        ?.node.raftView().memberLevels;
      return all().every((n) => n.routing.applied) && levels?.c === LEVEL_KEY_SPELLING - 1
        ? levels
        : undefined;
    },
    30_000,
  );

  // A key whose escaped and decoded texts have different owners (bounded search, seeded).
  let k = "";
  for (let i = 0; i < 200 && k === ""; i++) {
    const t = `k${Math.floor(random() * 1e9).toString(36)}`;
    if (ownerOf(`${t}%21b`) !== ownerOf(`${t}!b`)) k = t;
  }
  assert.notEqual(k, "", `a key whose spellings part (${seedNote(SEED)})`);
  const url = `/u/${k}%21b`;
  const oldOwner = ownerOf(`${k}%21b`);
  const newOwner = ownerOf(`${k}!b`);

  for (const id of IDS) {
    const r = routed(id, url);
    assert.ok(r.level < LEVEL_KEY_SPELLING, `${id}: level ${r.level}`);
    assert.equal(r.member, oldOwner, `${id}: the previous rules' member below level 4 (${seedNote(SEED)})`);
  }

  // c is upgraded: restarted on its data directory at this build's level.
  const oldC = nodes.get("c");
  assert.ok(oldC !== undefined);
  await oldC.node.stop();
  await start("c", peers, config).start();
  // Every instance, at every observation, routes by the rules of the level it has applied.
  const wrong: string[] = [];
  const observe = (id: string) => {
    const r = routed(id, url);
    const want = r.level >= LEVEL_KEY_SPELLING ? newOwner : oldOwner;
    if (r.member !== want) wrong.push(`${id} at level ${r.level}: ${r.member}, not ${want}`);
    return r;
  };
  await eventually(
    "the cluster level committed everywhere and every instance switched",
    () => (IDS.map(observe).every((r) => r.level === CURRENT_LEVEL) ? true : undefined),
    30_000,
  );
  assert.deepEqual(wrong, [], `every observation by the applied level's rules (${seedNote(SEED)})`);
  for (const id of IDS) assert.equal(routed(id, url).member, newOwner, `${id}: the new rules' member`);

  // A restart once the level is committed: b reads by the new rules from the index of the level
  // entry it replays (its log or snapshot) on, by the previous ones on what it applies before.
  const oldB = nodes.get("b");
  assert.ok(oldB !== undefined);
  await oldB.node.stop();
  await start("b", peers, config).start();
  await eventually(
    "b restarted and its committed level replayed",
    () => {
      const n = nodes.get("b");
      if (n === undefined || !n.routing.applied) return undefined;
      return observe("b").level === CURRENT_LEVEL ? true : undefined;
    },
    30_000,
  );
  assert.deepEqual(wrong, [], `b's observations by its applied level's rules (${seedNote(SEED)})`);
  assert.equal(routed("b", url).member, newOwner, `b after a restart (${seedNote(SEED)})`);
});
