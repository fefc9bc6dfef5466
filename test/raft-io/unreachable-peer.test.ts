// A dead follower costs the leader (almost) nothing. Three real drivers over real TCP on
// loopback; one follower is stopped and the leader commits 500 proposals of ~4 KiB with the
// other. Before, the leader kept the dead peer in replicate state, sent it one append per entry
// until its in-flight window (64) was full and a heartbeat every tick, and its link
// (transport/peer-link.ts) held all of them across reconnects (up to 4096 payloads or 64 MiB
// by default), to replay them on return, entries since compacted away included: 144 payloads
// here after 500 proposals (64 appends of ~4 KiB, the rest heartbeats), one more every tick.
// Now the link reports the failed dials and the lost connection (the core moves the peer to
// probe: one append in flight until it answers), drops its queue when the connection is lost
// and holds only the newest few payloads while the peer is down. The follower, restarted
// behind a compacted log, is probed back to the right place (a snapshot here), ends byte-equal
// with the leader and is pipelined to again; the follower that stayed connected is pipelined
// to throughout.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, it } from "node:test";
import { RaftDriver } from "../../config/raft/driver.js";
import { freePorts } from "../support/ports.js";
import { SEED, seededRandom, seedNote } from "../support/prng.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const SECRET = "unreachable-peer-test-secret-0123";
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-raft-unreachable-"));
const drivers = new Map<string, RaftDriver>();
after(async () => {
  for (const d of drivers.values()) await d.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

const PROPOSALS = 500;
const VALUE_BYTES = 4096;
/** What the leader may hold for the dead peer: a handful of payloads, far from one per entry. */
const MAX_QUEUED = 16;
const MAX_QUEUED_BYTES = 64 * 1024;

const letters = "abcdefghijklmnopqrstuvwxyz0123456789";
const value = (random: () => number): string => {
  let s = "";
  for (let i = 0; i < VALUE_BYTES; i++) s += letters[Math.floor(random() * letters.length)];
  return s;
};

it("a leader holds only a handful of payloads for a dead follower, which catches up byte-equal on return", {
  timeout: 240_000,
}, async (t) => {
  const note = seedNote(SEED);
  const random = seededRandom(SEED);
  const ids = ["a", "b", "c"];
  const ports = await freePorts(3);
  const peers: Record<string, string> = {};
  ids.forEach((id, i) => {
    peers[id] = `127.0.0.1:${ports[i]}`;
  });
  const machines = new Map<string, KvStateMachine>();
  const make = (id: string): RaftDriver => {
    const sm = new KvStateMachine();
    machines.set(id, sm);
    const d = new RaftDriver(
      testDriverOptions(root, SECRET, id, peers, {
        stateMachine: sm,
        bootstrap: ids,
        seed: SEED,
        heartbeatMs: 50,
        electionMs: 1000,
        requestTimeoutMs: 60_000,
        // Compacted while the follower is down: only a snapshot can bring it back.
        snapshotEvery: 50,
        compactMargin: 0,
        transport: { backoffMinMs: 10, backoffMaxMs: 200 },
      }),
    );
    drivers.set(id, d);
    return d;
  };
  for (const id of ids) make(id);
  await Promise.all([...drivers.values()].map((d) => d.start()));
  await waitFor(() => [...drivers.values()].some((d) => d.status().role === "leader"), "a leader", 60_000);
  const leaderId = ids.find((id) => drivers.get(id)?.status().role === "leader") as string;
  const leader = drivers.get(leaderId) as RaftDriver;
  const [downId, liveId] = ids.filter((id) => id !== leaderId);
  await leader.propose(kvCommand("warm", "up"));
  await waitFor(
    () =>
      leader.status().peers[downId]?.state === "replicate" &&
      leader.status().peers[liveId]?.state === "replicate",
    `the leader pipelines to both followers (${note})`,
    60_000,
  );
  await (drivers.get(downId) as RaftDriver).stop();
  drivers.delete(downId);
  const downLast = leader.status().lastIndex;

  let maxQueued = 0;
  let maxBytes = 0;
  const liveStates = new Set<string>();
  for (let i = 0; i < PROPOSALS; i++) {
    await leader.propose(kvCommand(`k${String(i).padStart(4, "0")}`, value(random)));
    const s = leader.status();
    assert.equal(s.role, "leader", `${leaderId} stayed leader through the proposals (${note})`);
    const link = leader.transport.stats().peers[downId];
    maxQueued = Math.max(maxQueued, link?.queued ?? 0);
    maxBytes = Math.max(maxBytes, link?.queuedBytes ?? 0);
    liveStates.add(String(s.peers[liveId]?.state));
  }
  t.diagnostic(`queued for the dead ${downId}: at most ${maxQueued} payloads, ${maxBytes} bytes`);
  assert.ok(
    maxQueued <= MAX_QUEUED,
    `the leader queued up to ${maxQueued} payloads for the dead ${downId} over ${PROPOSALS} proposals, over ${MAX_QUEUED} (${note})`,
  );
  assert.ok(
    maxBytes <= MAX_QUEUED_BYTES,
    `the leader queued up to ${maxBytes} bytes for the dead ${downId}, over ${MAX_QUEUED_BYTES} (${note})`,
  );
  const down = leader.status().peers[downId];
  assert.ok(
    down?.state === "probe" || down?.state === "snapshot",
    `the dead ${downId} is probed, not pipelined to: ${JSON.stringify(down)} (${note})`,
  );
  // A follower slow or not, but connected, is pipelined to throughout.
  assert.deepEqual([...liveStates], ["replicate"], `the live ${liveId}'s states (${note})`);
  assert.ok(
    leader.status().firstIndex > downLast + 1,
    `the leader's log starts at ${leader.status().firstIndex}, past ${downId}'s last ${downLast} (${note})`,
  );

  // Back: probed to the right place (the snapshot: its entries are compacted away), then
  // pipelined to again, and its state ends byte-equal with the leader's.
  const back = make(downId);
  await back.start();
  const leaderSm = machines.get(leaderId) as KvStateMachine;
  const backSm = machines.get(downId) as KvStateMachine;
  await waitFor(
    () =>
      back.status().appliedIndex === leader.status().appliedIndex &&
      Buffer.from(backSm.snapshot()).equals(Buffer.from(leaderSm.snapshot())),
    `${downId} caught up byte-equal with the leader at ${leader.status().appliedIndex} (${note})`,
    120_000,
  );
  assert.equal(backSm.map.size, PROPOSALS + 1, `${downId} holds every key (${note})`);
  await leader.propose(kvCommand("after", "return"));
  await waitFor(
    () => leader.status().peers[downId]?.state === "replicate" && backSm.map.get("after") === "return",
    `the leader pipelines to ${downId} again (${note})`,
    60_000,
  );
});
