// A snapshot a follower cannot restore is refused on arrival, before the core installs it (which
// replaces the log on disk): one whose driver envelope does not decode (or names a cluster level
// no build advertises), sent by a peer at a later term, and one whose envelope is fine but whose state the state machine's validate() rejects,
// sent by a real leader with a snapshot bug. Before, both were persisted and then failed to
// restore: the node stopped and its directory refused every later start. Real drivers over
// loopback TCP with file storage; the follower must count the refusal, log it, keep its state,
// start again on its directory, and catch up from the next good snapshot.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { encodeMessages, newMessage } from "../../config/raft/core/index.js";
import { wrapSnapshot } from "../../config/raft/driver/envelope.js";
import type { RaftDriverOptions } from "../../config/raft/driver.js";
import { TcpTransport } from "../../config/raft/transport/index.js";
import { ClusterStateMachine } from "../../config/state/state-machine.js";
import { freePorts } from "../support/ports.js";
import { SEED, seedNote } from "../support/prng.js";
import { type DriverNode, DriverNodes } from "../support/raft-io/driver-nodes.js";
import { keys, write } from "../support/raft-io/driver-writes.js";
import { KvStateMachine } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const SECRET = "snapshot-refusal-test-secret-0123456789";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-snap-refusal-"));
const nodes = new DriverNodes(SECRET);
after(async () => {
  await nodes.stopAll();
  fs.rmSync(root, { recursive: true, force: true });
});

/** The test KV map with a validate() (the shape restore reads), a restore count and a snapshot bug switch. */
class CheckedKv extends KvStateMachine {
  restores = 0;
  /** While set, snapshot() writes a state that validate() (and restore()) refuse: a leader's bug. */
  buggy = false;

  override snapshot(): Uint8Array {
    return this.buggy ? Buffer.from(JSON.stringify({ last: "not a number", map: 7 })) : super.snapshot();
  }

  validate(data: Uint8Array): string | undefined {
    if (data.length === 0) return undefined;
    let s: unknown;
    try {
      s = JSON.parse(Buffer.from(data).toString("utf8"));
    } catch {
      return "not JSON";
    }
    const o = s as { last?: unknown; map?: unknown };
    if (typeof o?.last !== "number" || !Array.isArray(o.map)) return "not a {last, map} object";
    return undefined;
  }

  override restore(data: Uint8Array): void {
    const why = this.validate(data);
    if (why !== undefined) throw new Error(`kv snapshot rejected: ${why}`);
    this.restores++;
    super.restore(data);
  }
}

type Node = DriverNode<CheckedKv>;

function node(
  dir: string,
  id: string,
  peers: Record<string, string>,
  extra: Partial<RaftDriverOptions> = {},
): Node {
  // Small snapshots, nothing kept behind them: a follower that missed a few entries needs one.
  return nodes.node(dir, id, peers, new CheckedKv(), { snapshotEvery: 4, compactMargin: 0, ...extra });
}

async function started(n: Node): Promise<Node> {
  await n.d.start();
  n.kv.restores = 0; // count only the snapshots that arrive after the start's own restore
  return n;
}

function stop(n: Node): Promise<void> {
  return nodes.stop(n);
}

/**
 * a, b, c founded together, "ours" written everywhere, then c cut off (by a and b) and stopped
 * and k0..k7 written without it (compacted past c's log). The caller heals a's and b's cuts.
 */
async function fleetPastC(
  name: string,
  buggy: boolean,
): Promise<{ dir: string; peers: Record<string, string>; a: Node; b: Node }> {
  const dir = path.join(root, name);
  const ports = await freePorts(3);
  const peers = { a: `127.0.0.1:${ports[0]}`, b: `127.0.0.1:${ports[1]}`, c: `127.0.0.1:${ports[2]}` };
  const ns = ["a", "b", "c"].map((id) => node(dir, id, peers, { bootstrap: ["a", "b", "c"] }));
  await Promise.all(ns.map((n) => started(n)));
  await write(ns, ["ours"]);
  const [a, b, c] = ns;
  // Cut before c stops: appends queued for c while it is down would otherwise reach it when it
  // comes back and carry it past the compaction point without any snapshot.
  a.d.transport.cut("c");
  b.d.transport.cut("c");
  await stop(c);
  a.kv.buggy = buggy;
  b.kv.buggy = buggy;
  await write([a, b], keys("k", 8));
  await waitFor(
    () => a.d.counters.snapshotsTaken > 0 && b.d.counters.snapshotsTaken > 0,
    `a and b snapshotted past c (${seedNote(SEED)})`,
    20_000,
  );
  return { dir, peers, a, b };
}

/** c's directory still starts, on its own state (nothing of the refused snapshot). */
async function restartsOnOwnState(dir: string, peers: Record<string, string>, c: Node): Promise<Node> {
  await stop(c);
  const again = await started(node(dir, "c", peers));
  assert.equal(again.kv.map.get("ours"), "1", "c kept what it had");
  assert.equal(again.kv.map.get("k0"), undefined, "nothing of the refused snapshot");
  return again;
}

/** Bad envelopes a peer at a later term sends: the state inside is a good one (k0 set). */
const BAD_ENVELOPES: readonly { name: string; detail: string; data: (state: Uint8Array) => Uint8Array }[] = [
  {
    // An address book length running past the data: the envelope cannot be decoded.
    name: "an address book overrunning the data",
    detail: "snapshot envelope: address book overruns the data",
    data: (state) => Buffer.concat([Buffer.from([0, 0, 0xff, 0xff]), state]),
  },
  {
    // A level no build advertises (MAX_ADVERTISED_LEVEL is 1000): forged or corrupt, not an upgrade.
    name: "a cluster level no build advertises",
    detail: "cluster level 5000, which no build advertises",
    data: (state) => wrapSnapshot({}, state, {}, 5000, ""),
  },
];

describe("a snapshot the follower cannot restore is refused before it reaches the disk", () => {
  for (const [i, bad] of BAD_ENVELOPES.entries())
    it(`${bad.name}, sent by a peer at a later term: refused, counted, c restarts and catches up`, async () => {
      const { dir, peers, a, b } = await fleetPastC(`bad-envelope-${i}`, false);
      // b's slot taken by something holding the secret; c hears only it (a cut), so nothing good
      // can reach c before the bad snapshot does.
      await stop(b);
      const fake = new TcpTransport({ id: "b", secret: SECRET, peers: { c: peers.c }, onMessage: () => {} });
      await fake.start();
      let c: Node;
      try {
        c = await started(node(dir, "c", peers, { transport: { cut: ["a"] } }));
        const term = c.d.status().term + 1;
        const good = new CheckedKv();
        good.map.set("k0", "1");
        const data = bad.data(good.snapshot());
        const snapshot = {
          meta: { index: 10_000, term, conf: { voters: ["a", "b", "c"], learners: [] } },
          data,
        };
        fake.send("c", encodeMessages([newMessage({ type: "snap", from: "b", to: "c", term, snapshot })]));
        await waitFor(
          () => c.d.counters.refused.bad_snapshot > 0,
          `c refuses the bad snapshot (${seedNote(SEED)})`,
          20_000,
        );
        // Stepped as a refused snap since s11-raftb (its later term adopted, its install replaced
        // by a snapStatus answer): what matters is that none of it reached the disk.
        assert.ok(c.d.storage.snapshot().meta.index < 10_000, "the refused snapshot was never persisted");
        assert.ok(c.d.status().commitIndex < 10_000, "nor committed past c's own log");
        assert.equal(c.kv.restores, 0, "nothing restored");
      } finally {
        await fake.stop();
      }
      const line = c.warnings.find((w) => w.includes("bad_snapshot"));
      assert.ok(
        line?.includes(`snapshot 10000: ${bad.detail}`) && line.includes("not installed"),
        `logged: ${line}`,
      );
      c = await restartsOnOwnState(dir, peers, c);
      const b2 = await started(node(dir, "b", peers));
      a.d.transport.heal("c");
      await waitFor(
        () => c.kv.map.get("k7") === "1",
        `c caught up from a's or b's snapshot (${seedNote(SEED)})`,
        20_000,
      );
      assert.ok(c.kv.restores > 0, "c caught up through a snapshot");
      await write([a, b2, c], ["after"]);
    });

  it("a valid envelope around state the state machine rejects, from a real leader: refused until a good one", async () => {
    const { dir, peers, a, b } = await fleetPastC("bad-state", true);
    let c = await started(node(dir, "c", peers));
    a.d.transport.heal("c");
    b.d.transport.heal("c");
    await waitFor(
      () => c.d.counters.refused.bad_snapshot > 0,
      `c refuses the leader's snapshot of invalid state (${seedNote(SEED)})`,
      20_000,
    );
    const line = c.warnings.find((w) => w.includes("bad_snapshot"));
    assert.ok(
      line?.includes("not a {last, map} object") && line.includes("not installed"),
      `logged: ${line}`,
    );
    assert.equal(c.kv.restores, 0, "nothing restored");
    assert.equal(c.kv.map.get("k0"), undefined, "c did not move past what it had");
    c = await restartsOnOwnState(dir, peers, c);
    // The leader's bug fixed: its next snapshot is good, and its next attempt gets through.
    a.kv.buggy = false;
    b.kv.buggy = false;
    const taken = a.d.counters.snapshotsTaken + b.d.counters.snapshotsTaken;
    await write([a, b], keys("m", 8));
    await waitFor(
      () => a.d.counters.snapshotsTaken + b.d.counters.snapshotsTaken > taken,
      `a good snapshot taken (${seedNote(SEED)})`,
      20_000,
    );
    await waitFor(
      () => c.kv.map.get("m7") === "1" && c.kv.map.get("k7") === "1",
      `c caught up from the good snapshot (${seedNote(SEED)})`,
      20_000,
    );
    assert.ok(c.kv.restores > 0, "c caught up through a snapshot");
    const back = await restartsOnOwnStateAfterCatchUp(dir, peers, c);
    await write([a, b, back], ["after"]);
  });

  it("the cluster state machine's validate() refuses what restore() would and changes nothing", () => {
    const restored: unknown[] = [];
    const sm = new ClusterStateMachine({ onApply: () => {}, onRestore: (s) => restored.push(s) });
    const before = sm.current;
    const own = sm.snapshot();
    assert.equal(sm.validate(own), undefined, "its own snapshot is valid");
    assert.equal(sm.validate(new Uint8Array(0)), undefined, "the empty (bootstrap) state is valid");
    const bad = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(own).toString("utf8")), v: 99 }));
    const why = sm.validate(bad);
    assert.match(why ?? "", /cluster state snapshot rejected: invalid snapshot/);
    assert.match(sm.validate(Buffer.from([0xff, 0xfe])) ?? "", /not UTF-8 JSON/);
    assert.equal(sm.current, before, "validate changed nothing");
    assert.equal(restored.length, 0, "validate restored nothing");
    assert.throws(() => sm.restore(bad), /cluster state snapshot rejected/, "restore refuses the same bytes");
    // Decoded once: decodeSnapshot refuses what validate refuses, and its value restores the state.
    const refused = sm.decodeSnapshot(bad);
    assert.equal(refused.ok, false);
    assert.equal(refused.ok ? "" : refused.error, why);
    assert.equal(sm.current, before, "decodeSnapshot changed nothing");
    const other = new ClusterStateMachine({ onApply: () => {}, onRestore: (s) => restored.push(s) });
    const d = sm.decodeSnapshot(own);
    assert.ok(d.ok);
    other.restoreDecoded(d.state);
    assert.deepEqual(
      Buffer.from(other.snapshot()),
      Buffer.from(own),
      "the decoded state restores what restore() would",
    );
    assert.equal(restored.length, 1, "restoreDecoded reports the restore");
  });
});

/** After catching up, c's directory (now holding the good snapshot) starts with everything. */
async function restartsOnOwnStateAfterCatchUp(
  dir: string,
  peers: Record<string, string>,
  c: Node,
): Promise<Node> {
  await stop(c);
  const again = await started(node(dir, "c", peers));
  assert.equal(again.kv.map.get("m7"), "1");
  return again;
}
