// The fleet-wide version gate (config/raft/core/feature-level.ts) with real drivers over
// loopback TCP and file storage: a member advertising the released level holds the committed
// cluster level at it (conf changes naming an incarnation are refused) until it is restarted
// at this build's level, when the leader commits the new level on every member; the level
// survives restarts; a forged level is dropped and counted; a committed entry this build
// cannot read stops the applier (never skipped) and a restart on that log refuses to start.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { CURRENT_LEVEL, encodeMessages, newMessage, RELEASED_LEVEL } from "../../config/raft/core/index.js";
import { DriverError, RaftDriver, type RaftDriverOptions } from "../../config/raft/driver.js";
import { TcpTransport } from "../../config/raft/transport/index.js";
import { ClusterStateMachine } from "../../config/state/state-machine.js";
import { freePorts } from "../support/ports.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const SECRET = "cluster-level-test-secret-0123456789";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-level-"));
const drivers = new Set<RaftDriver>();
after(async () => {
  for (const d of drivers) await d.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

function driver(
  id: string,
  peers: Record<string, string>,
  extra: Partial<RaftDriverOptions> = {},
): RaftDriver {
  const d = new RaftDriver(testDriverOptions(root, SECRET, id, peers, extra));
  drivers.add(d);
  return d;
}

async function peersOf(ids: readonly string[]): Promise<Record<string, string>> {
  const ports = await freePorts(ids.length);
  return Object.fromEntries(ids.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
}

function leaderOf(ds: readonly RaftDriver[]): RaftDriver | undefined {
  return ds.find((d) => d.status().role === "leader");
}

async function rejection(p: Promise<unknown>): Promise<DriverError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DriverError, `not a DriverError: ${String(err)}`);
    return err;
  }
  assert.fail("expected a rejection");
}

describe("cluster level", () => {
  it("an old member holds the level; incarnation conf changes wait; its upgrade commits the level everywhere", async () => {
    const ids = ["v1", "v2", "v3"];
    const peers = await peersOf([...ids, "v4"]);
    const base = { bootstrap: ids };
    let ds = [
      driver("v1", peers, base),
      driver("v2", peers, base),
      driver("v3", peers, { ...base, level: 0 }),
    ];
    await Promise.all(ds.map((d) => d.start()));
    await waitFor(() => leaderOf(ds) !== undefined, "a leader", 10_000);
    let leader = leaderOf(ds) as RaftDriver;
    // The leader (whichever) has heard everyone: v3 says 0, so the fleet's level is 0 and no level
    // entry is proposed (fleetLevel is defined only once every member answered).
    await waitFor(
      () => leaderOf(ds)?.status().fleetLevel === RELEASED_LEVEL,
      "the leader hears v3's released level",
      10_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}: ${JSON.stringify(ds.map((d) => d.status()))}`);
    });
    leader = leaderOf(ds) as RaftDriver;
    const st = leader.status();
    const heard = Object.fromEntries(
      ids.map((id) => [id, id === leader.id ? st.level : st.peers[id]?.level]),
    );
    assert.deepEqual(
      heard,
      { v1: CURRENT_LEVEL, v2: CURRENT_LEVEL, v3: 0 },
      "each member's advertised level",
    );
    await leader.propose(kvCommand("k", "1"));
    for (const d of ds) assert.equal(d.clusterLevel, RELEASED_LEVEL, `${d.id}: no level committed`);

    // A join naming its data directory, and a replacement, need level 1: refused, nothing logged.
    const before = leader.status().lastIndex;
    const join = await rejection(leader.addLearner("v4", peers.v4, "abcd1234"));
    assert.equal(join.code, "LEVEL_TOO_LOW", join.message);
    assert.match(join.message, /cluster level too low/);
    const follower = ds.find((d) => d !== leader) as RaftDriver;
    const replace = await rejection(leader.replaceIncarnation(follower.id, "beef0001"));
    assert.equal(replace.code, "LEVEL_TOO_LOW", replace.message);
    assert.equal(leader.status().lastIndex, before, "a refused change leaves nothing in the log");
    assert.deepEqual([...leader.status().learners], [], "no learner added");

    // v3 is upgraded: restarted on its data directory at this build's level.
    const old = ds[2];
    await old.stop();
    drivers.delete(old);
    const levels: number[] = [];
    ds = [ds[0], ds[1], driver("v3", peers, base)];
    for (const d of ds) d.on("clusterLevel", (l: number) => levels.push(l));
    await ds[2].start();
    await waitFor(
      () => ds.every((d) => d.clusterLevel === CURRENT_LEVEL),
      "the new level committed on every member",
      15_000,
    );
    assert.deepEqual(levels, [CURRENT_LEVEL, CURRENT_LEVEL, CURRENT_LEVEL], "each member applied it once");

    // Now the join naming its incarnation goes through (v4 need not run: a learner does not vote).
    await waitFor(() => leaderOf(ds) !== undefined, "a leader", 10_000);
    leader = leaderOf(ds) as RaftDriver;
    await leader.addLearner("v4", peers.v4, "abcd1234");
    assert.deepEqual([...leader.status().learners], ["v4"]);
    assert.equal(leader.status().fleetLevel, undefined, "v4 unheard: no decision on a partial view");
    assert.equal(leader.clusterLevel, CURRENT_LEVEL, "the level never goes down by itself");

    // The level is in every member's log: a restart has it before it hears anyone.
    const v1 = ds[0];
    await v1.stop();
    drivers.delete(v1);
    const again = driver("v1", peers, base);
    await again.start();
    assert.equal(again.clusterLevel, CURRENT_LEVEL, "restored from the log at start");
    ds = [again, ds[1], ds[2]];

    // A member restarted on an older build (level 0) meets the level entry and refuses to start.
    const v2 = ds[1];
    await v2.stop();
    drivers.delete(v2);
    const downgraded = driver("v2", peers, { ...base, level: 0 });
    const refused = await rejection(downgraded.start());
    assert.equal(refused.code, "UPGRADE_REQUIRED", refused.message);
    assert.match(refused.message, new RegExp(`cluster level ${CURRENT_LEVEL}`));
  });

  it("a forged level is dropped and counted; a member cannot push the fleet above the leader", async () => {
    const peers = await peersOf(["solo"]);
    // A snapshot after every entry, keeping no log behind it: the level must ride the snapshot.
    const solo = driver("solo", peers, { bootstrap: ["solo"], snapshotEvery: 1, compactMargin: 0 });
    await solo.start();
    await waitFor(
      () => solo.clusterLevel === CURRENT_LEVEL,
      "a one-voter fleet commits its own level",
      10_000,
    );
    const mallory = new TcpTransport({ id: "mallory", secret: SECRET, peers, onMessage: () => {} });
    await mallory.start();
    after(() => mallory.stop());
    const term = solo.status().term;
    const resp = (level: number) =>
      newMessage({ type: "heartbeatResp", from: "mallory", to: "solo", term, level });
    mallory.send("solo", encodeMessages([resp(1_000_000)]));
    await waitFor(() => solo.counters.forgedLevels === 1, "the forged level counted", 10_000);
    mallory.send("solo", encodeMessages([resp(Number.MAX_SAFE_INTEGER)]));
    await waitFor(() => solo.counters.forgedLevels === 2, "the second one too", 10_000);
    // A plausible level from outside the configuration is not forged, just not a member's.
    mallory.send("solo", encodeMessages([resp(999)]));
    await solo.propose(kvCommand("after", "forgery"));
    assert.equal(solo.counters.forgedLevels, 2);
    assert.equal(solo.clusterLevel, CURRENT_LEVEL, "nothing moved the level");
    assert.equal(solo.status().peers.mallory, undefined);
    assert.equal(solo.status().role, "leader");
    await solo.stop();
    drivers.delete(solo);
    const back = driver("solo", peers, { bootstrap: ["solo"] });
    await back.start();
    assert.ok(back.status().snapshotIndex > 0 && back.status().firstIndex > 1, "restored from a snapshot");
    assert.equal(back.clusterLevel, CURRENT_LEVEL, "the snapshot carries the level");
  });

  it("a committed entry this build cannot read stops the applier at it; a restart refuses to start", async () => {
    const ids = ["u1", "u2", "u3"];
    const peers = await peersOf(ids);
    const sm = () => new ClusterStateMachine({ onApply: () => undefined, onRestore: () => undefined });
    const opts = (): Partial<RaftDriverOptions> => ({ bootstrap: ids, stateMachine: sm() });
    const ds = ids.map((id) => driver(id, peers, opts()));
    const fatal = new Map<string, Error>();
    for (const d of ds) d.on("fatal", (e: Error) => fatal.set(d.id, e));
    await Promise.all(ds.map((d) => d.start()));
    await waitFor(() => leaderOf(ds) !== undefined, "a leader", 10_000);
    const leader = leaderOf(ds) as RaftDriver;
    // A later version's command (bypassing this build's propose-time validation, as a newer
    // proposer would).
    const future = Buffer.from(JSON.stringify({ v: 1, type: "SetQuantumRouting", pools: {} }));
    const err = await rejection(leader.propose(future));
    assert.equal(err.code, "UPGRADE_REQUIRED", err.message);
    await waitFor(() => fatal.size === 3, "every member stopped applying", 10_000);
    for (const [id, e] of fatal) {
      assert.ok(e instanceof DriverError && e.code === "UPGRADE_REQUIRED", `${id}: ${e.message}`);
      assert.match(e.message, /command type "SetQuantumRouting"/);
    }
    const stopped = ds[0];
    drivers.delete(stopped);
    await stopped.stop();
    const restarted = driver("u1", peers, opts());
    const refused = await rejection(restarted.start());
    assert.equal(refused.code, "UPGRADE_REQUIRED", refused.message);
  });

  it("a follower cut off while a later version's entry commits stops at it once the cut heals", async () => {
    // The blocked members keep their Raft role: the commit index reaches the follower that missed
    // it with the next heartbeat. (Their Raft stopping left it serving on, never degraded.)
    const ids = ["w1", "w2", "w3"];
    const peers = await peersOf(ids);
    const sm = () => new ClusterStateMachine({ onApply: () => undefined, onRestore: () => undefined });
    const ds = ids.map((id) => driver(id, peers, { bootstrap: ids, stateMachine: sm() }));
    const [w1, w2, w3] = ds as [RaftDriver, RaftDriver, RaftDriver];
    const fatal = new Map<string, Error>();
    for (const d of ds) d.on("fatal", (e: Error) => fatal.set(d.id, e));
    await Promise.all(ds.map((d) => d.start()));
    await waitFor(() => leaderOf(ds) !== undefined, "a leader", 10_000);
    for (const [a, b] of [
      [w1, w3],
      [w2, w3],
    ] as const) {
      a.transport.cut(b.id);
      b.transport.cut(a.id);
    }
    // Read once the cut holds: the level and cluster id the new fleet commits may still be moving it.
    const lastBefore = w3.status().commitIndex;
    await waitFor(() => leaderOf([w1, w2]) !== undefined, "a leader of w1 and w2", 10_000);
    const future = Buffer.from(JSON.stringify({ v: 1, type: "SetQuantumRouting", pools: {} }));
    const err = await rejection((leaderOf([w1, w2]) as RaftDriver).propose(future));
    assert.equal(err.code, "UPGRADE_REQUIRED", err.message);
    await waitFor(() => fatal.has("w1") && fatal.has("w2"), "w1 and w2 stopped applying", 10_000);
    assert.ok(!fatal.has("w3"), "w3, cut off, has not heard of the entry");
    assert.equal(w3.status().commitIndex, lastBefore);
    for (const d of [w1, w2]) {
      d.transport.heal("w3");
      w3.transport.heal(d.id);
    }
    await waitFor(() => fatal.has("w3"), "w3 stopped applying once the cut healed", 10_000);
    const e3 = fatal.get("w3");
    assert.ok(e3 instanceof DriverError && e3.code === "UPGRADE_REQUIRED", String(e3));
    assert.match(e3.message, /command type "SetQuantumRouting"/);
    const refused = await rejection(w3.propose(kvCommand("k", "v")));
    assert.equal(refused.code, "UPGRADE_REQUIRED", refused.message);
  });
});

describe("a leader blocked at a later version's entry", () => {
  it("hands leadership to a voter of a later build, which applies on", async () => {
    // b3 is the older build (one level below): its state machine cannot read "later" commands.
    // Leading on, it would hold the term with heartbeats while doing none of a leader's work
    // (no level raises; the application gives up its controllers), for as long as it runs.
    const ids = ["b1", "b2", "b3"];
    const peers = await peersOf(ids);
    const older = new KvStateMachine();
    const olderSm = {
      apply: (e: { index: number; term: number; data: Uint8Array }) => {
        if (Buffer.from(e.data).toString("utf8").includes('"later"'))
          throw new DriverError("UPGRADE_REQUIRED", 'command "later" needs feature level 8');
        return older.apply(e);
      },
      snapshot: () => older.snapshot(),
      restore: (data: Uint8Array) => older.restore(data),
    };
    const newer = [new KvStateMachine(), new KvStateMachine()];
    const ds = [
      driver("b1", peers, { bootstrap: ids, stateMachine: newer[0] }),
      driver("b2", peers, { bootstrap: ids, stateMachine: newer[1] }),
      driver("b3", peers, { bootstrap: ids, stateMachine: olderSm, level: CURRENT_LEVEL - 1 }),
    ];
    const [b1, , b3] = ds as [RaftDriver, RaftDriver, RaftDriver];
    let fatals = 0;
    b3.on("fatal", () => fatals++);
    await Promise.all(ds.map((d) => d.start()));
    await waitFor(() => leaderOf(ds) !== undefined, "a leader", 10_000);
    // b3 leads, as any voter may once its log is up to date.
    await waitFor(
      () => {
        if (leaderOf(ds) === b3) return true;
        b3.transferLeadership("b3").catch(() => undefined);
        return false;
      },
      "b3 leads",
      15_000,
    );
    await waitFor(() => b1.status().leader === "b3", "b1 knows b3 leads", 10_000);
    await b1.propose(kvCommand("later", "x"));
    await waitFor(() => fatals === 1, "b3 stopped applying", 10_000);
    await waitFor(
      () => leaderOf(ds) !== undefined && leaderOf(ds) !== b3,
      "a later build leads",
      10_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}: ${JSON.stringify(ds.map((d) => d.status().role))}`);
    });
    // The later build serves on; b3 stays blocked (the fatal event once), votes, applies nothing more.
    await waitFor(
      () => b1.status().leader !== "" && b1.status().leader !== "b3",
      "b1 knows the new leader",
      10_000,
    );
    await b1.propose(kvCommand("k", "after"));
    assert.equal(newer[0].map.get("k"), "after");
    await waitFor(() => newer[1].map.get("k") === "after", "b2 applied it", 10_000);
    assert.equal(older.map.get("k"), undefined);
    assert.equal(fatals, 1);
  });
});

describe("a snapshot of a later level", () => {
  it("stops a member's applier, not its Raft role, and restores nothing", async () => {
    // s4 is an older build joining a fleet whose log is compacted behind a level it lacks: it is
    // caught up by snapshot. It must hold at it as at a later entry (the store untouched) and go on
    // replicating, not stop its Raft and leave the fleet a member short.
    const ids = ["s1", "s2", "s3"];
    const peers = await peersOf([...ids, "s4"]);
    const opts = { bootstrap: ids, snapshotEvery: 20, compactMargin: 0 };
    const ds = ids.map((id) => driver(id, peers, opts));
    await Promise.all(ds.map((d) => d.start()));
    await waitFor(() => ds.every((d) => d.clusterLevel === CURRENT_LEVEL), "the level committed", 15_000);
    await waitFor(() => leaderOf(ds) !== undefined, "a leader", 10_000);
    const leader = leaderOf(ds) as RaftDriver;
    for (let i = 0; i < 40; i++) await leader.propose(kvCommand(`k${i}`, "v"));
    await waitFor(() => leader.storage.firstIndex() > 1, "the leader's log compacted", 10_000);
    const older = new KvStateMachine();
    const s4 = driver("s4", peers, { stateMachine: older, level: CURRENT_LEVEL - 1 });
    const fatal: Error[] = [];
    s4.on("fatal", (e: Error) => fatal.push(e));
    await s4.start();
    await leader.addLearner("s4", peers.s4 as string);
    await waitFor(() => fatal.length === 1, "s4 stopped applying", 10_000);
    const e = fatal[0];
    assert.ok(e instanceof DriverError && e.code === "UPGRADE_REQUIRED", String(e));
    assert.match(e.message, /is of cluster level/);
    const index = await leader.propose(kvCommand("after", "v"));
    await waitFor(() => s4.status().commitIndex >= index, "s4 replicates on", 10_000);
    assert.equal(older.map.size, 0, "nothing of the snapshot restored");
    assert.equal(fatal.length, 1);
    const refused = await rejection(s4.read());
    assert.equal(refused.code, "UPGRADE_REQUIRED", refused.message);
    // The snapshot it installed is on disk: a restart of this build refuses it, restores nothing.
    await s4.stop();
    drivers.delete(s4);
    const again = driver("s4", peers, { stateMachine: new KvStateMachine(), level: CURRENT_LEVEL - 1 });
    const restart = await rejection(again.start());
    assert.equal(restart.code, "UPGRADE_REQUIRED", restart.message);
  });
});
