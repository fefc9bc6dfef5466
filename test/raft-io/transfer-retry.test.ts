// A leadership transfer outlives one lapsed attempt. Raft gives a transfer one election
// timeout; on a loaded machine (CI at load 30) the transferee can miss it, and the driver used
// to report TIMEOUT two election timeouts after the call. The leader is cut from the target
// until the driver makes the request again after the first attempt lapsed (seen on the core,
// whose transferLeadership the test counts), then healed: the same call resolves with the
// target leading. Three real drivers on loopback TCP.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import type { RaftNode } from "../../config/raft/core/index.js";
import { RaftDriver, transferTimeoutMs } from "../../config/raft/driver.js";
import { SEED } from "../support/prng.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";
import { leaderAllFollow, loopbackPeers } from "../support/raft-io/loopback-fleet.js";

const SECRET = "transfer-retry-secret-0123456789";
const ELECTION_MS = 200;
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-transfer-"));
const drivers: RaftDriver[] = [];
after(async () => {
  await Promise.all(drivers.map((d) => d.stop()));
  fs.rmSync(root, { recursive: true, force: true });
});

test("a transfer whose first attempt lapses is made again and completes", { timeout: 30_000 }, async () => {
  const ids = ["t1", "t2", "t3"];
  const peers = await loopbackPeers(ids);
  for (const id of ids)
    drivers.push(
      new RaftDriver(testDriverOptions(root, SECRET, id, peers, { bootstrap: ids, electionMs: ELECTION_MS })),
    );
  await Promise.all(drivers.map((d) => d.start()));
  const leader = await leaderAllFollow(drivers, "a leader every node follows");
  const target = drivers.find((d) => d !== leader) as RaftDriver;

  // The leader's core, tapped (private to the driver): each transferLeadership the driver makes
  // is counted, and one made when the core holds no transfer any more (Raft aborted the
  // previous attempt after its election timeout) is a retry of a lapsed attempt.
  const core = (leader as unknown as { nodeRef: RaftNode }).nodeRef;
  const transfer = core.transferLeadership.bind(core);
  let calls = 0;
  let onRetry = (): void => {};
  const retried = new Promise<string>((r) => {
    onRetry = () => r("retried");
  });
  core.transferLeadership = (to) => {
    calls++;
    if (calls > 1 && core.status().leadTransferee === "") onRetry();
    transfer(to);
  };

  // Cut until the driver made the request again after the first attempt lapsed; healed then,
  // well before the call's deadline. The old driver made no second request and gave up at
  // two election timeouts.
  leader.transport.cut(target.id);
  const started = Date.now();
  const moved = leader.transferLeadership(target.id).then(
    () => "resolved",
    (err: unknown) => `rejected: ${String(err)}`,
  );
  const first = await Promise.race([
    retried,
    moved.then((outcome) => `the call settled before any retry: ${outcome}`),
  ]);
  const cutDrops = leader.transport.stats().dropped.cut;
  leader.transport.heal(target.id);
  assert.equal(first, "retried", `calls to the core: ${calls}; seed ${SEED}`);
  assert.ok(cutDrops > 0, "the cut dropped the first attempt's messages");

  assert.equal(await moved, "resolved", `seed ${SEED}`);
  assert.equal(target.status().role, "leader");
  assert.ok(Date.now() - started < transferTimeoutMs(ELECTION_MS), "resolved before the call's deadline");
});
