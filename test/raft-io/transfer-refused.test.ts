// A leadership transfer to a node that stops being a voter while the transfer waits is refused
// at the next attempt, naming why, instead of timing out. A follower forwards its transfer to
// the leader; the leader cannot reach the target (cut), so the attempt lapses; meanwhile the
// target is removed from the cluster. The leader ignores the forwarded request it can no
// longer serve, and the follower used to wait out transferTimeoutMs (5 s + 2 election
// timeouts) for TIMEOUT. Now its next attempt (one election timeout later) finds the target
// no voter in its own configuration and rejects with DROPPED "... is not a voter (not a
// member)". A transfer to a learner is refused at once, naming it a learner. Three voters and
// a learner as real drivers on loopback TCP. "< half the deadline" is a 2x margin on the old
// wait, not a performance target.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { DriverError, RaftDriver, transferTimeoutMs } from "../../config/raft/driver.js";
import { seedNote, testSeed } from "../support/prng.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";
import { leaderAllFollow, loopbackPeers } from "../support/raft-io/loopback-fleet.js";
import { waitFor } from "../support/wait.js";

const SECRET = "transfer-refused-secret-0123456789";
const SEED = testSeed(1207);
const ELECTION_MS = 200;
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-transfer-refused-"));
const drivers: RaftDriver[] = [];
after(async () => {
  await Promise.all(drivers.map((d) => d.stop()));
  fs.rmSync(root, { recursive: true, force: true });
});

test("a transfer whose target is removed meanwhile, or is a learner, is refused with the reason", {
  timeout: 60_000,
}, async () => {
  const ids = ["r1", "r2", "r3", "r4"];
  const voters = ids.slice(0, 3);
  const peers = await loopbackPeers(ids);
  for (const id of ids)
    drivers.push(
      new RaftDriver(
        testDriverOptions(root, SECRET, id, peers, {
          bootstrap: voters.includes(id) ? voters : undefined,
          electionMs: ELECTION_MS,
          seed: SEED,
        }),
      ),
    );
  await Promise.all(drivers.map((d) => d.start()));
  const core = drivers.slice(0, 3);
  const leader = await leaderAllFollow(core, "a leader every voter follows");
  const [asker, target] = core.filter((d) => d !== leader);
  const learner = drivers[3];
  await leader.addLearner(learner.id, peers[learner.id]);
  await waitFor(
    () => asker.status().learners.includes(learner.id),
    "the follower's configuration names the learner",
    10_000,
  );

  // A learner: refused at once on the follower, naming it a learner.
  const toLearner = await asker.transferLeadership(learner.id).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(toLearner instanceof DriverError, `refused, got ${String(toLearner)} (${seedNote(SEED)})`);
  assert.equal(toLearner.code, "DROPPED");
  assert.match(
    toLearner.message,
    new RegExp(`${learner.id} is a learner, not a voter \\(promote it first\\)`),
  );

  // The leader cannot reach the target: the forwarded attempt lapses; then the target is removed.
  leader.transport.cut(target.id);
  const t0 = performance.now();
  const moved = asker.transferLeadership(target.id).then(
    () => null,
    (e: unknown) => e,
  );
  // The leader refuses changes while its transfer runs (one election timeout): retried, bounded.
  for (let attempt = 1; ; attempt++) {
    try {
      await leader.removeMember(target.id);
      break;
    } catch (err) {
      if (attempt >= 50 || !(err instanceof DriverError) || err.code !== "DROPPED") throw err;
      await new Promise((r) => setTimeout(r, ELECTION_MS / 2));
    }
  }
  const err = await moved;
  const ms = performance.now() - t0;
  const deadline = transferTimeoutMs(ELECTION_MS);
  assert.ok(err instanceof DriverError, `refused, got ${String(err)} (${seedNote(SEED)})`);
  assert.equal(
    err.code,
    "DROPPED",
    `${err.code}: ${err.message} after ${ms.toFixed(0)} ms (${seedNote(SEED)})`,
  );
  assert.match(err.message, new RegExp(`${target.id} is not a voter \\(not a member\\)`));
  assert.ok(
    ms < deadline / 2,
    `refused after ${ms.toFixed(0)} ms, want < ${deadline / 2} (the deadline is ${deadline}) (${seedNote(SEED)})`,
  );
  assert.equal(leader.status().role, "leader", "leadership stayed where it was");
  leader.transport.heal(target.id);
});
