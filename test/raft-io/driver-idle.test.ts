// An idle Raft cluster must cost (almost) nothing per tick: three real drivers over loopback
// TCP with file storage. Once nothing is proposed, every Ready pass the driver schedules has
// a Ready to process (an idle follower's tick and a heartbeat response the leader only
// records schedule none), and no pass syncs the disk. Issue 16: the idle leader's CPU.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { CURRENT_LEVEL, type RaftNode } from "../../config/raft/core/index.js";
import type { ReadyLoop } from "../../config/raft/driver/ready-loop.js";
import { RaftDriver } from "../../config/raft/driver.js";
import { freePorts } from "../support/ports.js";
import { SEED } from "../support/prng.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-driver-idle-"));
const drivers: RaftDriver[] = [];
after(async () => {
  for (const d of drivers) await d.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

/** What one member's driver did while watched: Ready passes scheduled, empty ones, syncs, ticks. */
interface Watch {
  kicks: number;
  emptyKicks: number;
  syncs: number;
  ticks: number;
}

/** Taps the driver's private loop, node and storage (the test is about their interplay). */
function watch(d: RaftDriver): Watch {
  const w: Watch = { kicks: 0, emptyKicks: 0, syncs: 0, ticks: 0 };
  const inner = d as unknown as { loop: ReadyLoop; nodeRef: RaftNode };
  const loop = inner.loop;
  const node = inner.nodeRef;
  const kick = loop.kick.bind(loop);
  loop.kick = () => {
    w.kicks++;
    if (!node.hasReady()) w.emptyKicks++;
    kick();
  };
  const storage = d.storage;
  const sync = storage.sync.bind(storage);
  storage.sync = () => {
    w.syncs++;
    return sync();
  };
  // Counts the driver's ticks by wrapping its private tick handler (the timer calls it by name).
  const inner2 = d as unknown as { onTick: () => void };
  const onTick = inner2.onTick.bind(d);
  inner2.onTick = () => {
    w.ticks++;
    onTick();
  };
  return w;
}

describe("raft driver when idle", () => {
  it("schedules no Ready pass without a Ready, and syncs nothing", async () => {
    const ids = ["i1", "i2", "i3"];
    const ports = await freePorts(ids.length);
    const peers: Record<string, string> = {};
    ids.forEach((id, i) => {
      peers[id] = `127.0.0.1:${ports[i]}`;
    });
    const sms = ids.map(() => new KvStateMachine());
    for (let i = 0; i < ids.length; i++) {
      drivers.push(
        new RaftDriver({
          id: ids[i],
          dataDir: path.join(root, ids[i]),
          secret: "driver-idle-secret-0123456789",
          peers,
          stateMachine: sms[i],
          bootstrap: ids,
          heartbeatMs: 20,
          electionMs: 400,
          fsync: false,
          seed: SEED + i,
          requestTimeoutMs: 5000,
        }),
      );
    }
    await Promise.all(drivers.map((d) => d.start()));
    const leader = () => drivers.find((d) => d.status().role === "leader");
    await waitFor(() => leader() !== undefined, "a leader", 10_000);
    const index = await (leader() as RaftDriver).propose(kvCommand("k", "v"));
    await waitFor(() => drivers.every((d) => d.status().appliedIndex >= index), "all applied", 10_000);
    // A new fleet commits its cluster level once the leader heard every member: part of settling.
    await waitFor(
      () => drivers.every((d) => d.clusterLevel === CURRENT_LEVEL),
      "the cluster level committed",
      10_000,
    );

    // A loaded machine may still move leadership inside a window (an election does sync):
    // such a window is measured again, up to 5 times.
    const watches = drivers.map(watch);
    for (let attempt = 1; ; attempt++) {
      const term = drivers.map((d) => d.status().term);
      for (const w of watches) Object.assign(w, { kicks: 0, emptyKicks: 0, syncs: 0, ticks: 0 });
      await waitFor(() => watches.every((w) => w.ticks >= 30), "30 ticks on every member", 30_000);
      const stable = drivers.every((d, i) => d.status().term === term[i]);
      if (!stable && attempt < 5) continue;
      assert.ok(stable, `leadership kept moving (seed ${SEED})`);
      break;
    }
    const report = JSON.stringify(watches.map((w, i) => ({ id: ids[i], ...w })));
    const lead = drivers.indexOf(leader() as RaftDriver);
    // Heartbeats did flow: the leader had a Ready (its heartbeats) on most ticks.
    assert.ok(watches[lead].kicks >= 10, `the leader sent heartbeats: ${report}`);
    for (const w of watches) {
      assert.equal(w.emptyKicks, 0, `no empty Ready pass: ${report}`);
      assert.equal(w.syncs, 0, `no sync while idle: ${report}`);
    }
    // Each follower has one Ready per heartbeat (its response), not one more per own tick.
    for (let i = 0; i < watches.length; i++) {
      if (i === lead) continue;
      assert.ok(watches[i].kicks <= watches[lead].kicks + 5, `follower passes track heartbeats: ${report}`);
    }
  });
});
