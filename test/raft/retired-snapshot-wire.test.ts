// The retired list a leader's snapshot carries (from feature level 8), over real drivers on
// loopback TCP with file storage. A follower of a level-7 build refuses the frame flag that
// carries it (and with it the whole frame), so in a mixed fleet the leader must send none: c,
// running as a level-7 build, still catches up by a snapshot. And a list no history could give,
// sent by anything holding the secret, is refused with its frame: counted, logged, nothing of
// the snapshot installed, the follower still serving and catching up from the real leader.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { encodeMessages, LEVEL_SNAPSHOT_RETIRED, newMessage } from "../../config/raft/core/index.js";
import { wrapSnapshot } from "../../config/raft/driver/envelope.js";
import type { RaftDriverOptions } from "../../config/raft/driver.js";
import { TcpTransport } from "../../config/raft/transport/index.js";
import { freePorts } from "../support/ports.js";
import { SEED, seedNote } from "../support/prng.js";
import { DriverNodes } from "../support/raft-io/driver-nodes.js";
import { keys, leaderOf, write } from "../support/raft-io/driver-writes.js";
import { KvStateMachine } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const SECRET = "retired-snapshot-wire-test-secret-0123";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-retired-wire-"));
const nodes = new DriverNodes(SECRET);
after(async () => {
  await nodes.stopAll();
  fs.rmSync(root, { recursive: true, force: true });
});

function node(
  dir: string,
  id: string,
  peers: Record<string, string>,
  extra: Partial<RaftDriverOptions> = {},
) {
  // Small snapshots, nothing kept behind them: a follower that missed a few entries needs one.
  return nodes.node(dir, id, peers, new KvStateMachine(), { snapshotEvery: 4, compactMargin: 0, ...extra });
}

/**
 * a, b, c founded together (c as a build of `cLevel`), "ours" written everywhere, then c cut off
 * and stopped while k0..k7 are written (a and b compact past c's log).
 */
async function fleetPastC(name: string, cLevel?: number) {
  const dir = path.join(root, name);
  const ports = await freePorts(3);
  const peers = { a: `127.0.0.1:${ports[0]}`, b: `127.0.0.1:${ports[1]}`, c: `127.0.0.1:${ports[2]}` };
  const bootstrap = { bootstrap: ["a", "b", "c"] };
  const cOpts = cLevel === undefined ? {} : { level: cLevel };
  const [a, b, c] = [
    node(dir, "a", peers, bootstrap),
    node(dir, "b", peers, bootstrap),
    node(dir, "c", peers, { ...bootstrap, ...cOpts }),
  ];
  await Promise.all([a, b, c].map((n) => n.d.start()));
  await write([a, b, c], ["ours"]);
  // Cut before c stops: appends queued for c would otherwise carry it past the compaction point.
  a.d.transport.cut("c");
  b.d.transport.cut("c");
  await nodes.stop(c);
  await write([a, b], keys("k", 8));
  await waitFor(
    () => a.d.counters.snapshotsTaken > 0 && b.d.counters.snapshotsTaken > 0,
    `a and b snapshotted past c (${seedNote(SEED)})`,
    20_000,
  );
  return { dir, peers, a, b, cOpts };
}

describe("a snapshot's retired list on the wire", () => {
  it("a mixed fleet (c a level-7 build) commits level 7 and still catches c up by a snapshot", async () => {
    const old = LEVEL_SNAPSHOT_RETIRED - 1;
    const { dir, peers, a, b, cOpts } = await fleetPastC("mixed", old);
    assert.equal(leaderOf([a, b])?.d.clusterLevel, old, "the fleet is at c's level");
    const c = node(dir, "c", peers, cOpts);
    await c.d.start();
    const before = c.d.storage.snapshot().meta.index;
    a.d.transport.heal("c");
    b.d.transport.heal("c");
    await waitFor(
      () => c.kv.map.get("k7") === "1",
      `c, a level-${old} build, caught up (${seedNote(SEED)})`,
      20_000,
    );
    assert.ok(c.d.storage.snapshot().meta.index > before, "c caught up through a snapshot");
    // A list sent before level 8 would have been refused with its frame, as a level-7 build does.
    assert.equal(c.d.counters.undecodablePayloads, 0, `c refused frames: ${c.warnings.join("; ")}`);
    await write([a, b, c], ["after"]);
  });

  it("a forged list (naming a member the snapshot lacks) is refused with its frame; the real one gets through", async () => {
    const { dir, peers, a, b } = await fleetPastC("forged");
    // b's slot taken by something holding the secret; c hears only it (a cut), so nothing good
    // reaches c before the forged snapshot does.
    await nodes.stop(b);
    const fake = new TcpTransport({ id: "b", secret: SECRET, peers: { c: peers.c }, onMessage: () => {} });
    await fake.start();
    const c = node(dir, "c", peers, { transport: { cut: ["a"] } });
    try {
      await c.d.start();
      const own = c.d.storage.snapshot().meta.index;
      const term = c.d.status().term + 1;
      const good = new KvStateMachine();
      good.map.set("k0", "1");
      const snapshot = {
        meta: {
          index: 10_000,
          term,
          conf: { voters: ["a", "b", "c"], learners: [] },
          retired: { retired: [["z", ["z1"]] as const], departed: [], trusted: [] },
        },
        data: wrapSnapshot({}, good.snapshot(), {}, LEVEL_SNAPSHOT_RETIRED, ""),
      };
      fake.send("c", encodeMessages([newMessage({ type: "snap", from: "b", to: "c", term, snapshot })]));
      await waitFor(
        () => c.d.counters.undecodablePayloads > 0,
        `c refuses the forged list (${seedNote(SEED)})`,
        20_000,
      );
      const line = c.warnings.find((w) => w.includes("undecodable"));
      assert.ok(line?.includes("retired directories of z, which is not a member"), `logged: ${line}`);
      assert.equal(c.d.storage.snapshot().meta.index, own, "nothing of the forged snapshot persisted");
      assert.ok(c.d.status().term < term, "nor its term adopted");
      assert.equal(c.kv.map.get("k0"), undefined, "nor its state restored");
    } finally {
      await fake.stop();
    }
    // The real b back: c catches up from a or b, whose snapshot carries their (empty) list.
    const b2 = node(dir, "b", peers);
    await b2.d.start();
    a.d.transport.heal("c");
    c.d.transport.heal("a");
    await write([a, b2, c], ["after"]);
    assert.equal(c.kv.map.get("k7"), "1", "c caught up");
    assert.equal(c.d.counters.undecodablePayloads, 1, "only the forged frame was refused");
  });
});
