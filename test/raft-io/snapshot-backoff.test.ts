// A follower that refuses every snapshot (it cannot restore it: test/raft/snapshot-refusal.test.ts
// has why it may) answers the leader with a snapStatus (core/message.ts), and the leader backs off:
// 2 election timeouts, then doubling. Before, the follower said nothing and the leader resent the
// whole snapshot at every snapshot timeout (2 election timeouts) for as long as the follower
// refused it. Real drivers over loopback TCP with file storage: the sends a refusing follower
// receives over a window of election timeouts stay bounded, the leader counts and logs each
// refusal, and once the follower can restore again, the next snapshot the leader takes reaches it
// without waiting out the backoff, and is decoded once (checked on arrival, that value restored).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { Registry } from "prom-client";
import { CURRENT_LEVEL } from "../../config/raft/core/index.js";
import { RaftDriver } from "../../config/raft/driver.js";
import { registerClusterMetrics } from "../../proxy/metrics/cluster-metrics.js";
import { fixedClusterSource } from "../support/cluster-metrics-source.js";
import { freePorts } from "../support/ports.js";
import { SEED, seedNote } from "../support/prng.js";
import { promtoolCheckMetrics } from "../support/promtool.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";
import { keys, leaderOf, write } from "../support/raft-io/driver-writes.js";
import { KvStateMachine } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const SECRET = "snapshot-backoff-test-secret-0123456789";
const ELECTION_MS = 200;
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-snap-backoff-"));
const drivers = new Set<RaftDriver>();
after(async () => {
  for (const d of drivers) await d.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

type KvState = { last: number; map: [string, string][] } | null;

/**
 * The test KV map, decoding a snapshot once on arrival (decodeSnapshot, which refuses every
 * non-empty one while `refusing` is set) and restoring the decoded value, counting which
 * restore the driver calls.
 */
class RefusingKv extends KvStateMachine {
  refusing = false;
  bytesRestores = 0;
  decodedRestores = 0;

  decodeSnapshot(data: Uint8Array): { ok: true; state: KvState } | { ok: false; error: string } {
    if (data.length === 0) return { ok: true, state: null };
    if (this.refusing) return { ok: false, error: "refused by the test" };
    return { ok: true, state: JSON.parse(Buffer.from(data).toString("utf8")) as KvState };
  }

  restoreDecoded(state: unknown): void {
    this.decodedRestores++;
    super.restore(new Uint8Array(0));
    const s = state as KvState;
    if (s === null) return;
    for (const [k, v] of s.map) this.map.set(k, v);
    this.lastApplied = s.last;
  }

  override restore(data: Uint8Array): void {
    this.bytesRestores++;
    super.restore(data);
  }
}

interface Node {
  d: RaftDriver;
  kv: RefusingKv;
  warnings: string[];
}

function node(dir: string, id: string, peers: Record<string, string>): Node {
  const kv = new RefusingKv();
  const warnings: string[] = [];
  const d = new RaftDriver(
    testDriverOptions(dir, SECRET, id, peers, {
      stateMachine: kv,
      onWarning: (m) => warnings.push(m),
      electionMs: ELECTION_MS,
      // Small snapshots, nothing kept behind them: a follower that missed a few entries needs one.
      snapshotEvery: 4,
      compactMargin: 0,
      bootstrap: ["a", "b", "c"],
    }),
  );
  drivers.add(d);
  return { d, kv, warnings };
}

/**
 * Three drivers in `root/<name>` at the fleet's feature level (the refusal's answer is sent only
 * once the whole fleet reads it), "ours" written; then c, cut off both ways, misses k0..k7 while
 * a and b write them and snapshot past it, so it needs a snapshot; c refuses every snapshot from
 * then on, and is healed. Returns [a, b, c].
 */
async function followerRefusingSnapshots(name: string): Promise<Node[]> {
  const dir = path.join(root, name);
  const ports = await freePorts(3);
  const peers = { a: `127.0.0.1:${ports[0]}`, b: `127.0.0.1:${ports[1]}`, c: `127.0.0.1:${ports[2]}` };
  const ns = ["a", "b", "c"].map((id) => node(dir, id, peers));
  const [a, b, c] = ns;
  await Promise.all(ns.map((n) => n.d.start()));
  await waitFor(
    () => ns.every((n) => n.d.clusterLevel === CURRENT_LEVEL),
    `the fleet at level ${CURRENT_LEVEL} (${seedNote(SEED)})`,
    20_000,
  );
  await write(ns, ["ours"]);
  a.d.transport.cut("c");
  b.d.transport.cut("c");
  c.d.transport.cut("a");
  c.d.transport.cut("b");
  await write([a, b], keys("k", 8));
  await waitFor(
    () => a.d.counters.snapshotsTaken > 0 && b.d.counters.snapshotsTaken > 0,
    `a and b snapshotted past c (${seedNote(SEED)})`,
    20_000,
  );
  c.kv.refusing = true;
  for (const n of [a, b]) n.d.transport.heal("c");
  c.d.transport.heal("a");
  c.d.transport.heal("b");
  return ns;
}

describe("a follower refusing the leader's snapshot makes it back off", () => {
  it("bounded snapshot sends over 30 election timeouts, each refusal counted and logged by the leader", async () => {
    const ns = await followerRefusingSnapshots("backoff");
    const [a, b, c] = ns;
    await waitFor(
      () => c.d.counters.refused.bad_snapshot > 0,
      `c refuses a snapshot (${seedNote(SEED)})`,
      20_000,
    );
    const leader = leaderOf([a, b]) as Node;
    const term = leader.d.status().term;
    // Count the snapshots c receives over 30 election timeouts of wall time. A loaded machine
    // ticks late, which only lowers the count: the bound cannot pass by being slow.
    const first = c.d.counters.refused.bad_snapshot;
    const windowMs = 30 * ELECTION_MS;
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, windowMs));
    const sends = c.d.counters.refused.bad_snapshot - first;
    const elapsed = Date.now() - t0;
    const rate = (sends / elapsed) * 1000;
    console.log(
      `snapshot sends to a refusing follower: ${sends} in ${elapsed} ms (${rate.toFixed(2)}/s, election ${ELECTION_MS} ms) after the first; leader ${leader.d.id} heard ${leader.d.counters.snapshotsRefusedByPeers} refusals, term ${term} -> ${leader.d.status().term}; ${seedNote(SEED)}`,
    );
    assert.equal(leader.d.status().term, term, `one leader through the window (${seedNote(SEED)})`);
    // Backoff after the first refusal: 2, 4, 8, 16 election timeouts (+1 tick each): 3 sends in
    // 30, one more if the leader took a newer snapshot meanwhile (sent at once). Without it: one
    // per 2 election timeouts, 14 (10 seen on a loaded machine, whose ticks run late).
    assert.ok(
      sends <= 4,
      `${sends} snapshots sent to a refusing follower in 30 election timeouts (${seedNote(SEED)})`,
    );
    assert.ok(leader.d.counters.snapshotsRefusedByPeers >= 1, "the leader counted the refusals");
    assert.ok(
      leader.d.counters.snapshotsRefusedByPeers <= c.d.counters.refused.bad_snapshot,
      "never more refusals heard than c refused",
    );
    const line = leader.warnings.find((w) => w.includes("refused snapshot"));
    assert.match(
      line ?? "",
      /^c refused snapshot \d+ \(code bad_snapshot\): .*next attempt in \d+ ms/,
      `logged: ${line}`,
    );
    assert.equal(c.kv.map.get("k0"), undefined, "c installed nothing");

    // c can restore again: the next snapshot the leader takes is sent at once (the backoff was
    // for the one c refused).
    c.kv.refusing = false;
    c.kv.bytesRestores = 0;
    const taken = leader.d.counters.snapshotsTaken;
    await write([a, b], keys("m", 8));
    await waitFor(
      () => leader.d.counters.snapshotsTaken > taken,
      `a newer snapshot (${seedNote(SEED)})`,
      20_000,
    );
    const caughtUp = Date.now();
    await waitFor(
      () => c.kv.map.get("m7") === "1" && c.kv.map.get("k7") === "1",
      `c caught up from the newer snapshot (${seedNote(SEED)})`,
      20_000,
    );
    console.log(`c caught up ${Date.now() - caughtUp} ms after the newer snapshot`);
    // Decoded once: the state checked on arrival is the one restored (restore(bytes) would
    // decode it again: +170 ms at 5,000 members for the cluster state).
    assert.ok(c.kv.decodedRestores >= 1, "c installed the snapshot from its decoded state");
    assert.equal(c.kv.bytesRestores, 0, "and never decoded its bytes a second time");
    await write(ns, ["after"]);
  });

  it("a follower refusing every snapshot the leader takes: each refusal counted and exported, a log line per backoff step", async () => {
    // c refuses from the start; the leader stays a or b (c, behind, cannot win a vote).
    const [a, b] = await followerRefusingSnapshots("log-steps");
    // Each snapshot the leader takes (every 4 entries) is sent at once and refused: past the
    // five steps of the backoff (2 to 32 election timeouts) the refusals come at the write rate.
    const leader = leaderOf([a, b]) as Node;
    const term = leader.d.status().term;
    const t0 = Date.now();
    // Bounded by time (60 s) and count (500 writes), not by 50 writes: in one CI run the 50 were
    // written in 442 ms with 2 refusals heard (not seen again in 9 runs alone or 6 at once), and
    // what this test counts is how refusals are counted and logged, not how soon they come
    // (the test above bounds the sends).
    for (
      let i = 0;
      i < 500 && leader.d.counters.snapshotsRefusedByPeers < 10 && Date.now() - t0 < 60_000;
      i++
    )
      await write([a, b], keys(`w${i}-`, 4));
    const refused = leader.d.counters.snapshotsRefusedByPeers;
    const lines = leader.warnings.filter((w) => w.includes("refused snapshot"));
    console.log(
      `leader ${leader.d.id} heard ${refused} refusals from c in ${Date.now() - t0} ms, logged ${lines.length} lines; ${seedNote(SEED)}`,
    );
    assert.equal(leader.d.status().term, term, `one leader through it (${seedNote(SEED)})`);
    assert.ok(refused >= 10, `c refused ${refused} snapshots (${seedNote(SEED)})`);
    // One line per backoff step (2, 4, 8, 16, 32 election timeouts, then 32 again: 5 steps) in
    // the 60 s interval; before, a line per refusal.
    assert.ok(
      lines.length >= 1 && lines.length <= 5,
      `${lines.length} lines for ${refused} refusals:\n${lines.join("\n")}`,
    );
    assert.match(lines[0], /^c refused snapshot \d+ \(code bad_snapshot\): .*next attempt in \d+ ms/);
    const byCode = leader.d.counters.snapshotsRefusedByPeer.get("c");
    assert.deepEqual(
      byCode,
      { bad_snapshot: refused, cluster_mismatch: 0, other: 0 },
      "counted by peer and code",
    );

    // The leader's counters as its /metrics exports them: one series per code for c, promtool clean.
    const registry = new Registry();
    registerClusterMetrics(
      registry,
      fixedClusterSource({ snapshotsRefused: leader.d.counters.snapshotsRefusedByPeer }),
    );
    const text = await registry.metrics();
    const name = "shardgate_raft_snapshots_refused_by_peers_total";
    const family = text
      .split("\n")
      .filter(
        (l) => l.startsWith(`${name}{`) || l.startsWith(`# HELP ${name} `) || l.startsWith(`# TYPE ${name} `),
      )
      .join("\n");
    assert.match(family, new RegExp(`^# TYPE ${name} counter$`, "m"), text);
    assert.match(family, new RegExp(`^${name}\\{peer="c",reason="bad_snapshot"\\} ${refused}$`, "m"), family);
    assert.match(family, new RegExp(`^${name}\\{peer="c",reason="other"\\} 0$`, "m"), family);
    const lint = await promtoolCheckMetrics(`${family}\n`);
    assert.equal(lint.code, 0, lint.out);
    assert.equal(lint.out.trim(), "", "no promtool findings");
  });

  it("a refusing follower removed from the configuration takes its refusal counts with it (churn)", async () => {
    // Before, shardgate_raft_snapshots_refused_by_peers_total{peer="c"} stayed for the life of
    // the leader after c was removed: a series per member that ever refused and left.
    const [a, b] = await followerRefusingSnapshots("removed");
    // Bounded by time (60 s) and count (500 writes), as the case above: 50 writes took 675 ms in
    // one mid-round suite run, before the leader had sent c a snapshot to refuse.
    const t0 = Date.now();
    for (
      let i = 0;
      i < 500 &&
      !(leaderOf([a, b])?.d.counters.snapshotsRefusedByPeer.has("c") ?? false) &&
      Date.now() - t0 < 60_000;
      i++
    )
      await write([a, b], keys(`r${i}-`, 4));
    const leader = leaderOf([a, b]) as Node;
    assert.ok(
      leader.d.counters.snapshotsRefusedByPeer.has("c"),
      `the leader counted c's refusals (${seedNote(SEED)})`,
    );
    await leader.d.removeMember("c");
    await waitFor(
      () => [a, b].every((n) => !n.d.counters.snapshotsRefusedByPeer.has("c")),
      `c's refusal counts gone from a and b after its removal (${seedNote(SEED)})`,
      20_000,
    );
    const text = await (async () => {
      const registry = new Registry();
      registerClusterMetrics(
        registry,
        fixedClusterSource({ snapshotsRefused: leader.d.counters.snapshotsRefusedByPeer }),
      );
      return registry.metrics();
    })();
    assert.doesNotMatch(text, /peer="c"/, "no series names the removed peer");
  });
});
