// Issue 9, fix 6 at the driver and admin level: while nothing commits, this node's pending
// proposals and reads are bounded; past the bound a request is refused at once with the coded
// error OVERLOADED, which the admin API answers as 503 "overloaded" with Retry-After.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, it } from "node:test";
import { DriverError, RaftDriver } from "../../config/raft/driver.js";
import { proposalError } from "../../proxy/app/errors.js";
import { freePorts } from "../support/ports.js";
import { SEED } from "../support/prng.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-bounds-"));
const drivers: RaftDriver[] = [];
after(async () => {
  for (const d of drivers) await d.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

/** A port below the ephemeral range (support/ports.ts says why a listen(0) port is not safe to reuse). */
async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

it("refuses proposals and reads past the bounds at once with OVERLOADED (admin: 503 + Retry-After)", async () => {
  const ids = ["a", "b", "c"];
  const peers: Record<string, string> = {};
  for (const id of ids) peers[id] = `127.0.0.1:${await freePort()}`;
  for (const id of ids) {
    drivers.push(
      new RaftDriver({
        id,
        dataDir: path.join(root, id),
        secret: "bounds-test-secret-0123456789",
        peers,
        stateMachine: new KvStateMachine(),
        heartbeatMs: 20,
        electionMs: 400,
        fsync: false,
        seed: SEED,
        bootstrap: ids,
        requestTimeoutMs: 10_000,
        maxPendingProposals: 5,
        maxPendingReads: 5,
      }),
    );
  }
  await Promise.all(drivers.map((d) => d.start()));
  await waitFor(() => drivers.some((d) => d.status().role === "leader"), "a leader", 10_000);
  const leader = drivers.find((d) => d.status().role === "leader") as RaftDriver;
  await leader.propose(kvCommand("k", "v"));
  // The two others go away: nothing can commit any more.
  for (const d of drivers) if (d !== leader) await d.stop();
  const waiting = [];
  for (let i = 0; i < 5; i++) waiting.push(leader.propose(kvCommand(`k${i}`, "v")).catch((e: unknown) => e));
  const t0 = performance.now();
  const refused = await leader.propose(kvCommand("over", "v")).catch((e: unknown) => e);
  const refusedMs = performance.now() - t0;
  assert.ok(
    refused instanceof DriverError && refused.code === "OVERLOADED",
    `seed=${SEED}: ${String(refused)}`,
  );
  assert.ok(refusedMs < 1000, `refused at once, not after a timeout (${refusedMs.toFixed(0)} ms)`);
  const reads = [];
  for (let i = 0; i < 5; i++) reads.push(leader.read().catch((e: unknown) => e));
  const readRefused = await leader.read().catch((e: unknown) => e);
  assert.ok(readRefused instanceof DriverError && readRefused.code === "OVERLOADED", String(readRefused));
  const admin = proposalError(refused);
  assert.equal(admin.status, 503);
  assert.equal(admin.error, "overloaded");
  assert.equal(admin.retryAfterS, 1);
  await leader.stop();
  for (const r of [...(await Promise.all(waiting)), ...(await Promise.all(reads))]) {
    assert.ok(r instanceof DriverError, "every waiting request settles once the driver stops");
  }
});
