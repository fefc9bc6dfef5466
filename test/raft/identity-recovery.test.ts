// identity.json (config/raft/driver/identity.ts) against the failures etcd's reviewers try on a
// member's data directory, with real drivers over loopback TCP and file storage: the file damaged
// (a clear refusal naming it, never a parse error), the file deleted under a log that survived
// (the incarnation comes back from the directory's own Raft configuration, the cluster id from
// its log, and the member keeps voting as itself), and the log lost under a file that survived
// (the member comes back as a new incarnation, never voting as its old self with an empty log).
// A snapshot naming another cluster is refused before it is installed (so never persisted).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { encodeMessages, newMessage } from "../../config/raft/core/index.js";
import { wrapSnapshot } from "../../config/raft/driver/envelope.js";
import { DriverError } from "../../config/raft/driver.js";
import { TcpTransport } from "../../config/raft/transport/index.js";
import { freePorts } from "../support/ports.js";
import { SEED, seedNote } from "../support/prng.js";
import { type DriverNode, DriverNodes } from "../support/raft-io/driver-nodes.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const SECRET = "identity-recovery-test-secret-0123456789";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-identity-rec-"));
const nodes = new DriverNodes(SECRET);
after(async () => {
  await nodes.stopAll();
  fs.rmSync(root, { recursive: true, force: true });
});

type Node = DriverNode;

function node(dir: string, id: string, peers: Record<string, string>, bootstrap?: string[]): Node {
  return nodes.node(dir, id, peers, new KvStateMachine(), bootstrap ? { bootstrap } : {});
}

function stop(n: Node): Promise<void> {
  return nodes.stop(n);
}

function leaderOf(ns: readonly Node[]): Node | undefined {
  return ns.find((n) => n.d.status().role === "leader");
}

async function write(ns: readonly Node[], k: string): Promise<void> {
  await waitFor(() => leaderOf(ns) !== undefined, `a leader to write ${k} (${seedNote(SEED)})`, 20_000);
  await (leaderOf(ns) as Node).d.propose(kvCommand(k, "1"));
  await waitFor(
    () => ns.every((n) => n.kv.map.get(k) === "1"),
    `${k} applied everywhere (${seedNote(SEED)})`,
    20_000,
  );
}

/** Founders a, b and joiner d (a voter under its own incarnation); the fleet fixed its id. */
async function fleetWithJoiner(
  name: string,
): Promise<{ dir: string; peers: Record<string, string>; ns: Node[] }> {
  const dir = path.join(root, name);
  const ports = await freePorts(3);
  const peers = { a: `127.0.0.1:${ports[0]}`, b: `127.0.0.1:${ports[1]}`, d: `127.0.0.1:${ports[2]}` };
  const a = node(dir, "a", peers, ["a", "b"]);
  const b = node(dir, "b", peers, ["a", "b"]);
  const d = node(dir, "d", peers);
  await Promise.all([a, b, d].map((n) => n.d.start()));
  // A member joins under its incarnation once the founders raised the fleet's level (and fixed the id).
  await waitFor(
    () => leaderOf([a, b]) !== undefined && a.d.clusterId !== "" && b.d.clusterId !== "",
    `a leader and the founders' cluster id (${seedNote(SEED)})`,
    20_000,
  );
  await (leaderOf([a, b]) as Node).d.addLearner("d", peers.d, d.d.incarnation);
  // Promotion is refused (NOT_CAUGHT_UP) until d is within a few entries: retry, bounded.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const l = leaderOf([a, b]);
    const ok =
      l !== undefined &&
      (await l.d.promote("d").then(
        () => true,
        () => false,
      ));
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`d never promoted (${seedNote(SEED)})`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const ns = [a, b, d];
  await waitFor(
    () => ns.every((n) => n.d.clusterId !== "" && n.d.clusterId === a.d.clusterId && n.d.admitted),
    `one cluster id everywhere, d admitted (${seedNote(SEED)})`,
    20_000,
  );
  await write(ns, "before");
  return { dir, peers, ns };
}

describe("identity.json against damage and lost files", () => {
  it("a damaged identity.json refuses the start with a coded error naming the file", async () => {
    const dir = path.join(root, "damaged");
    const [port] = await freePorts(1);
    const peers = { a: `127.0.0.1:${port}` };
    const a = node(dir, "a", peers, ["a"]);
    await a.d.start();
    await waitFor(() => a.d.clusterId !== "", `the id fixed (${seedNote(SEED)})`, 20_000);
    await stop(a);
    const file = path.join(dir, "a", "identity.json");
    for (const bytes of ['{"incarnation":"ab', "", '{"incarnation":5}']) {
      fs.writeFileSync(file, bytes);
      const again = node(dir, "a", peers);
      const err = await again.d.start().then(
        () => null,
        (e: unknown) => e,
      );
      nodes.forget(again);
      assert.ok(
        err instanceof DriverError,
        `refused with a DriverError, got ${String(err)} for ${JSON.stringify(bytes)}`,
      );
      assert.equal(err.code, "IDENTITY_UNREADABLE");
      assert.ok(err.message.includes(file), `names the file: ${err.message}`);
      assert.equal(fs.readFileSync(file, "utf8"), bytes, "the damaged file is left for the operator");
    }
  });

  it("identity.json deleted under a surviving log: incarnation and cluster id come back, it still votes", async () => {
    const { dir, peers, ns } = await fleetWithJoiner("deleted");
    const [a, b, d] = ns;
    const incarnation = d.d.incarnation;
    const cluster = d.d.clusterId;
    assert.notEqual(d.d.raftIncarnation, "", "d joined under its own incarnation");
    await stop(d);
    fs.rmSync(path.join(dir, "d", "identity.json"));
    const back = node(dir, "d", peers);
    await back.d.start();
    assert.equal(back.d.incarnation, incarnation, "the incarnation its configuration names");
    assert.equal(back.d.raftIncarnation, incarnation);
    assert.equal(back.d.clusterId, cluster, "the cluster id from its own log");
    const file = JSON.parse(fs.readFileSync(path.join(dir, "d", "identity.json"), "utf8")) as Record<
      string,
      unknown
    >;
    assert.equal(file.incarnation, incarnation);
    assert.equal(file.cluster, cluster);
    assert.ok(
      back.warnings.some((w) => w.includes("recovered incarnation")),
      back.warnings.join("\n"),
    );
    // Without a: b and d are the quorum, so d's acknowledgements count as its own (not replaced).
    await stop(a);
    await write([b, back], "after");
    assert.equal(b.d.incarnationOf("d"), incarnation, "d was not replaced");
  });

  it("the log lost under a surviving identity.json: a new incarnation, replaced by the leader", async () => {
    const { dir, peers, ns } = await fleetWithJoiner("lost-log");
    const [a, b, d] = ns;
    const old = d.d.incarnation;
    const cluster = d.d.clusterId;
    await stop(d);
    const dd = path.join(dir, "d");
    for (const f of fs.readdirSync(dd))
      if (f !== "identity.json") fs.rmSync(path.join(dd, f), { recursive: true });
    const back = node(dir, "d", peers);
    await back.d.start();
    assert.notEqual(
      back.d.incarnation,
      old,
      "an empty log never speaks as the incarnation that voted before",
    );
    assert.notEqual(back.d.raftIncarnation, "", "nor as a founder");
    assert.ok(
      back.warnings.some((w) => w.includes(old) && w.includes("Raft log is empty")),
      `the start says why:\n${back.warnings.join("\n")}`,
    );
    await waitFor(
      () => {
        const l = leaderOf([a, b]);
        return l !== undefined && l.d.incarnationOf("d") === back.d.incarnation && back.d.admitted;
      },
      `the leader replaced d under its new incarnation and promoted it back (${seedNote(SEED)})`,
      30_000,
    );
    await waitFor(
      () => back.d.clusterId === cluster,
      `d learned the cluster id again (${seedNote(SEED)})`,
      20_000,
    );
    await write([a, b, back], "after");
  });

  it("a snapshot naming another cluster is refused before it reaches the disk", async () => {
    const dir = path.join(root, "foreign-snap");
    const ports = await freePorts(3);
    const peers = { a: `127.0.0.1:${ports[0]}`, b: `127.0.0.1:${ports[1]}`, c: `127.0.0.1:${ports[2]}` };
    const ns = ["a", "b", "c"].map((id) => node(dir, id, peers, ["a", "b", "c"]));
    await Promise.all(ns.map((n) => n.d.start()));
    await waitFor(
      () => ns.every((n) => n.d.clusterId !== "" && n.d.clusterId === ns[0].d.clusterId),
      `one cluster id (${seedNote(SEED)})`,
      20_000,
    );
    await write(ns, "ours");
    const [a, b, c] = ns;
    const ours = c.d.clusterId;
    const theirs = ours === "0123456789abcdef" ? "fedcba9876543210" : "0123456789abcdef";
    // b's slot taken by something holding the secret but no cluster id (a version-1 hello, which
    // is still served), sending c a later-term snapshot of another cluster.
    await stop(b);
    const fake = new TcpTransport({ id: "b", secret: SECRET, peers: { c: peers.c }, onMessage: () => {} });
    await fake.start();
    try {
      const term = c.d.status().term + 1;
      const foreign = new KvStateMachine();
      foreign.map.set("theirs", "1");
      const snapshot = {
        meta: { index: 10_000, term, conf: { voters: ["a", "b", "c"], learners: [] } },
        data: wrapSnapshot({}, foreign.snapshot(), {}, 2, theirs),
      };
      fake.send("c", encodeMessages([newMessage({ type: "snap", from: "b", to: "c", term, snapshot })]));
      await waitFor(
        () => c.d.counters.refused.cluster_mismatch > 0,
        `c refuses the other cluster's snapshot (${seedNote(SEED)})`,
        20_000,
      );
    } finally {
      await fake.stop();
    }
    const line = c.warnings.find((w) => w.includes("cluster_mismatch"));
    assert.ok(line?.includes(ours) && line.includes(theirs), `logged with both ids: ${line}`);
    assert.equal(c.kv.map.get("theirs"), undefined, "nothing of the other cluster applied");
    // Its disk still holds its own cluster's state: it restarts and keeps committing.
    await stop(c);
    const again = node(dir, "c", peers);
    await again.d.start();
    assert.equal(again.d.clusterId, ours);
    assert.equal(again.kv.map.get("ours"), "1");
    await write([a, again], "after");
  });
});
