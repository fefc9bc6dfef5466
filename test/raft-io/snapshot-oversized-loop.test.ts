// A snapshot too large for one transport frame is refused by send() (oversized_send) and stays
// refused however often it is sent. The lost-snapshot report (baee4d2) must not treat that refusal
// as a loss to cure at the next heartbeat answer: the follower answers every heartbeat, so the
// leader would build, encode and refuse the whole snapshot at the heartbeat rate, forever (seen:
// one snapshot per heartbeat sent to the follower). A refused send is left to the snapshot's own
// retry (2 election timeouts, backed off), as before the report existed.
// Three real drivers over loopback TCP, a frame limit small enough that the state outgrows it; one
// follower is cut off while the leader compacts past it, then healed: heartbeats flow, the
// snapshot cannot. The wait is on heartbeats sent to it (ticks), never on wall-clock time.
import assert from "node:assert/strict";
import { after, it } from "node:test";
import { decodeMessages, type Message } from "../../config/raft/core/index.js";
import { SEED, seededRandom, seedNote } from "../support/prng.js";
import { BehindFollowerTrio, ELECTION_MS, HEARTBEAT_MS } from "../support/raft-io/behind-follower.js";
import { kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

/** Election timeout in heartbeats: the snapshot's own retry waits twice this. */
const ELECTION_TICKS = ELECTION_MS / HEARTBEAT_MS;
const FRAME_BYTES = 16 * 1024;
const trio = new BehindFollowerTrio("snap-oversized", "snapshot-oversized-loop-secret-0123456789", {
  maxFrameBytes: FRAME_BYTES,
});
after(() => trio.stop());

const types = (payload: Uint8Array): Message["type"][] => {
  try {
    return decodeMessages(payload).map((m) => m.type);
  } catch {
    return [];
  }
};

it("a snapshot refused as oversized is not sent again at every heartbeat answer", {
  timeout: 180_000,
}, async (t) => {
  const note = seedNote(SEED);
  const rand = seededRandom(SEED);
  // Cut off while the state grows past one frame and the log is compacted past it.
  const { behindId, behind, behindLast, leader } = await trio.start(note, async (l) => {
    for (let i = 0; i < 100; i++) {
      const v = Array.from({ length: 200 }, () => "abcdefghij"[Math.floor(rand() * 10)]).join("");
      await l.propose(kvCommand(`k${i}`, v));
    }
  });
  const transport = leader.transport;

  let snapshots = 0;
  let refused = 0;
  let heartbeats = 0;
  const send = transport.send.bind(transport);
  transport.send = (to, payload, onUnsent, onLost) => {
    const queued = send(to, payload, onUnsent, onLost);
    if (to === behindId) {
      const ts = types(payload);
      if (ts.includes("snap")) {
        snapshots++;
        if (!queued) refused++;
      }
      if (ts.includes("heartbeat")) heartbeats++;
    }
    return queued;
  };
  transport.heal(behindId);
  await waitFor(
    () => refused > 0,
    `the leader's snapshot to ${behindId} is refused as oversized (${note})`,
    60_000,
  );
  // Less than one snapshot retry (2 election timeouts) of heartbeats, each answered.
  const hbFrom = heartbeats;
  const window = ELECTION_TICKS;
  await waitFor(
    () => heartbeats - hbFrom >= window,
    `${window} heartbeats to ${behindId} (${note})`,
    120_000,
  );
  t.diagnostic(
    `${snapshots} snapshots (${refused} refused) to ${behindId} during ${heartbeats - hbFrom} heartbeats`,
  );
  assert.ok(
    behind.status().lastIndex <= behindLast,
    `${behindId} stays behind (the snapshot cannot reach it) (${note})`,
  );
  assert.ok(
    snapshots <= 2,
    `${snapshots} oversized snapshots (${refused} refused) sent to ${behindId} during ${heartbeats - hbFrom} heartbeats: the refusal was taken for a loss and resent at each heartbeat answer (${note})`,
  );
});
