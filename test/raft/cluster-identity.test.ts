// Cluster identity (config/raft/driver/cluster-identity.ts) with real drivers over loopback TCP
// and file storage: two fleets founded from one copied config (same ids, same secret) fix
// different cluster ids; a member's data directory moved into the other fleet is refused by
// every peer before any Raft message is read (counted, logged with both ids) and applies nothing
// of it while that fleet keeps committing; a directory whose identity.json names another cluster
// than its own log refuses to start; a fleet of the previous level has no id until its last
// member is upgraded, then every member adopts the same one.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { LEVEL_CLUSTER_ID } from "../../config/raft/core/index.js";
import { DriverError, type RaftDriverOptions } from "../../config/raft/driver.js";
import { freePorts } from "../support/ports.js";
import { SEED, seedNote } from "../support/prng.js";
import { type DriverNode, DriverNodes } from "../support/raft-io/driver-nodes.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const SECRET = "cluster-identity-test-secret-0123456789";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-cluster-id-"));
const nodes = new DriverNodes(SECRET);
after(async () => {
  await nodes.stopAll();
  fs.rmSync(root, { recursive: true, force: true });
});

type Node = DriverNode;

function node(
  dir: string,
  id: string,
  peers: Record<string, string>,
  extra: Partial<RaftDriverOptions> = {},
): Node {
  return nodes.node(dir, id, peers, new KvStateMachine(), { refusalLogMs: 60_000, ...extra });
}

function stop(n: Node): Promise<void> {
  return nodes.stop(n);
}

async function peersOf(ids: readonly string[]): Promise<Record<string, string>> {
  const ports = await freePorts(ids.length);
  return Object.fromEntries(ids.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
}

function leaderOf(ns: readonly Node[]): Node | undefined {
  return ns.find((n) => n.d.status().role === "leader");
}

async function proposeOn(ns: readonly Node[], k: string, v: string): Promise<void> {
  await waitFor(() => leaderOf(ns) !== undefined, `a leader to write ${k} (${seedNote(SEED)})`, 20_000);
  await (leaderOf(ns) as Node).d.propose(kvCommand(k, v));
  await waitFor(() => ns.every((n) => n.kv.map.get(k) === v), `${k} applied everywhere`, 20_000);
}

function identityFile(dir: string): { cluster?: string } {
  return JSON.parse(fs.readFileSync(path.join(dir, "identity.json"), "utf8")) as { cluster?: string };
}

async function fleetIds(ns: readonly Node[], what: string): Promise<string> {
  await waitFor(
    () => ns.every((n) => n.d.clusterId !== "" && n.d.clusterId === ns[0].d.clusterId),
    `${what}: every member holds the same cluster id (${seedNote(SEED)})`,
    20_000,
  );
  return ns[0].d.clusterId;
}

describe("cluster identity", () => {
  it("two fleets from one copied config refuse each other; a moved data directory applies nothing", async () => {
    const ids = ["x", "y", "z"];
    const dirA = path.join(root, "fleet-a");
    const dirB = path.join(root, "fleet-b");
    const peersA = await peersOf(ids);
    const peersB = await peersOf(ids);
    const a = ids.map((id) => node(dirA, id, peersA, { bootstrap: ids }));
    const b = ids.map((id) => node(dirB, id, peersB, { bootstrap: ids }));
    await Promise.all([...a, ...b].map((n) => n.d.start()));
    const idA = await fleetIds(a, "fleet A");
    const idB = await fleetIds(b, "fleet B");
    assert.notEqual(idA, idB, "two fleets founded from one config are two clusters");
    assert.equal(identityFile(path.join(dirA, "x")).cluster, idA, "kept in the data directory");
    assert.equal(a[0].d.status().clusterId, idA, "shown in status");
    await proposeOn(b, "from-b", "1");

    // B's z data directory is moved into fleet A in place of A's z (same id, same secret).
    await stop(a[2]);
    await stop(b[2]);
    const moved = node(dirB, "z", peersA);
    await moved.d.start();
    assert.equal(moved.d.clusterId, idB, "the directory still belongs to fleet B");
    const live = [a[0], a[1]];
    await waitFor(
      () =>
        live.some((n) => n.d.counters.refused.cluster_mismatch > 0) &&
        moved.d.counters.refused.cluster_mismatch > 0,
      `both sides refuse the other cluster's handshakes (${seedNote(SEED)})`,
      20_000,
    );
    const line = [...live, moved].flatMap((n) => n.warnings).find((w) => w.includes("cluster_mismatch"));
    assert.ok(line, "the refusal is logged");
    assert.match(line, /cluster ID mismatch/);
    assert.ok(line.includes(idA) && line.includes(idB), `the line names both clusters: ${line}`);
    assert.ok(
      live.some((n) => n.d.transport.stats().rejected.cluster_mismatch > 0),
      "also counted as a transport rejection",
    );

    // Fleet A keeps committing with its two members; the moved directory applies none of it,
    // and nothing of B reached A.
    await proposeOn(live, "from-a", "1");
    assert.equal(moved.kv.map.get("from-a"), undefined, "the moved directory applied fleet A's write");
    assert.equal(moved.kv.map.get("from-b"), "1", "it kept fleet B's state");
    for (const n of live) assert.equal(n.kv.map.get("from-b"), undefined, "fleet B's write reached fleet A");
    assert.ok(live.every((n) => n.d.clusterId === idA));

    // identity.json naming another cluster than the directory's own log: refuses to start.
    await stop(moved);
    const file = path.join(dirB, "z", "identity.json");
    const id = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify({ ...id, cluster: idA }));
    const confused = node(dirB, "z", peersB);
    let refused: unknown;
    await confused.d.start().catch((err: unknown) => {
      refused = err;
    });
    nodes.forget(confused);
    assert.ok(refused instanceof DriverError, `start refused: ${String(refused)}`);
    assert.equal(refused.code, "CLUSTER_MISMATCH");
    assert.match(refused.message, /cluster ID mismatch/);
    assert.ok(refused.message.includes(idA) && refused.message.includes(idB), refused.message);
  });

  it("a fleet of the previous level has no id until its last member upgrades, then all adopt one", async () => {
    const ids = ["u1", "u2", "u3"];
    const dir = path.join(root, "upgrade");
    const peers = await peersOf(ids);
    const old = LEVEL_CLUSTER_ID - 1;
    let ns = [
      node(dir, "u1", peers, { bootstrap: ids }),
      node(dir, "u2", peers, { bootstrap: ids }),
      node(dir, "u3", peers, { bootstrap: ids, level: old }),
    ];
    await Promise.all(ns.map((n) => n.d.start()));
    await waitFor(
      () => ns.every((n) => n.d.clusterLevel === old),
      `the fleet at the previous level (${seedNote(SEED)})`,
      20_000,
    );
    await proposeOn(ns, "before", "1");
    assert.deepEqual(
      ns.map((n) => n.d.clusterId),
      ["", "", ""],
      "no id while a member cannot read version-2 hellos",
    );
    assert.equal(identityFile(path.join(dir, "u3")).cluster, undefined);
    await stop(ns[2]);
    const upgraded = node(dir, "u3", peers, { bootstrap: ids });
    await upgraded.d.start();
    ns = [ns[0], ns[1], upgraded];
    const id = await fleetIds(ns, "after the upgrade");
    for (const u of ids) assert.equal(identityFile(path.join(dir, u)).cluster, id, `${u}'s identity.json`);
    await proposeOn(ns, "after", "1");
    // A restart keeps it (from identity.json and the log).
    await stop(ns[0]);
    const again = node(dir, "u1", peers, { bootstrap: ids });
    await again.d.start();
    assert.equal(again.d.clusterId, id);
  });
});
