// A snapshot the transport dropped is sent again at the next heartbeat answer, not after the
// snapshot's own retry (2 election timeouts). Three real drivers over loopback TCP with file
// storage; one follower is cut off while the leader compacts past it, so only a snapshot brings
// it back. The leader's first snapshot to it is dropped with the link's queue (cut and healed in
// the same turn, before the queue is flushed: the same drop as a connection lost with the
// snapshot still queued). Before, the link dropped it silently and the leader kept the follower
// in snapshot state until the retry: 2 election timeouts (6 s here) before the follower caught
// up. Now the link reports the loss (ReadyTransport.send's onLost), the core moves the follower
// to probe (reportSnapshotLost) and the next heartbeat answer sends the snapshot again: caught up
// within one election timeout of the drop. A dead follower is not resent anything: the probe
// waits for a heartbeat answer.
import assert from "node:assert/strict";
import { after, it } from "node:test";
import { decodeMessages } from "../../config/raft/core/index.js";
import { SEED, seedNote } from "../support/prng.js";
import { BehindFollowerTrio, ELECTION_MS } from "../support/raft-io/behind-follower.js";
import { type KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const trio = new BehindFollowerTrio("snap-lost", "snapshot-lost-test-secret-0123456789");
after(() => trio.stop());

const isSnapshot = (payload: Uint8Array): boolean => {
  try {
    return decodeMessages(payload).some((m) => m.type === "snap");
  } catch {
    return false;
  }
};

it("a snapshot dropped with the link's queue is sent again at the next heartbeat answer", {
  timeout: 180_000,
}, async (t) => {
  const note = seedNote(SEED);
  const machines = trio.machines;
  const { leaderId, leader, behindId, behind } = await trio.start(note, async (l) => {
    for (let i = 0; i < 60; i++) await l.propose(kvCommand(`k${i}`, `v${i}`));
  });
  const transport = leader.transport;

  // The first snapshot for it is queued, then dropped with the queue before any byte of it left.
  let droppedAt = 0;
  let snapshotsSent = 0;
  const send = transport.send.bind(transport);
  transport.send = (to, payload, onUnsent, onLost) => {
    const snap = to === behindId && isSnapshot(payload);
    const queued = send(to, payload, onUnsent, onLost);
    if (snap) snapshotsSent++;
    if (snap && droppedAt === 0 && queued) {
      droppedAt = performance.now();
      transport.cut(behindId);
      transport.heal(behindId);
    }
    return queued;
  };
  const droppedBefore = transport.stats().dropped.cut;
  transport.heal(behindId);
  await waitFor(() => droppedAt > 0, `the leader sends ${behindId} a snapshot (${note})`, 60_000);
  assert.ok(transport.stats().dropped.cut > droppedBefore, `the snapshot was dropped (${note})`);

  await waitFor(
    () => behind.status().appliedIndex >= leader.status().appliedIndex,
    `${behindId} caught up with the leader at ${leader.status().appliedIndex} (${note})`,
    60_000,
  );
  const caughtUpMs = performance.now() - droppedAt;
  t.diagnostic(
    `${behindId} caught up ${caughtUpMs.toFixed(0)} ms after its snapshot was dropped (${snapshotsSent} snapshots sent; election timeout ${ELECTION_MS} ms)`,
  );
  assert.ok(
    caughtUpMs < ELECTION_MS,
    `${behindId} caught up ${caughtUpMs.toFixed(0)} ms after the drop, not within one election timeout (${ELECTION_MS} ms): the lost snapshot waited the retry (${note})`,
  );
  assert.ok(snapshotsSent <= 3, `${snapshotsSent} snapshots sent for one loss (${note})`);
  const leaderSm = machines.get(leaderId) as KvStateMachine;
  const behindSm = machines.get(behindId) as KvStateMachine;
  assert.deepEqual([...behindSm.map], [...leaderSm.map], `${behindId}'s state is the leader's (${note})`);
});
