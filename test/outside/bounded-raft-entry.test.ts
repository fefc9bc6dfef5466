// Raft entry sizes against the transport's frame limit, with three real drivers over real TCP
// on loopback. Guard test (found already bounded, no fix): a config command is at most 8 MiB
// (config/state/commands.ts, checked at propose time), an app message at most 1 MiB, an append
// carries at most 64 entries and about 1 MiB unless one entry is larger (then that entry
// alone), and a transport frame may hold 64 MiB: so the largest entry a leader may commit
// travels in one frame its followers accept. Proposed here: two entries of the command
// maximum one after the other (the uncommitted log takes one entry over its 4 MiB only when
// empty), then a small one; every node applies all three, whole.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, it } from "node:test";
import { RaftDriver } from "../../config/raft/driver.js";
import { freePorts } from "../support/ports.js";
import { SEED, seedNote } from "../support/prng.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-raft-entry-"));
const drivers: RaftDriver[] = [];
const machines: KvStateMachine[] = [];
after(async () => {
  for (const d of drivers) await d.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

/** config/state/commands.ts's MAX_COMMAND_BYTES. */
const MAX_COMMAND_BYTES = 8 * 1024 * 1024;

it("entries of the largest command size commit on every node in one go", { timeout: 240_000 }, async () => {
  const note = seedNote(SEED);
  const ids = ["a", "b", "c"];
  const ports = await freePorts(3);
  const peers: Record<string, string> = {};
  ids.forEach((id, i) => {
    peers[id] = `127.0.0.1:${ports[i]}`;
  });
  for (const id of ids) {
    const sm = new KvStateMachine();
    machines.push(sm);
    drivers.push(
      new RaftDriver({
        id,
        dataDir: path.join(root, id),
        secret: "raft-entry-test-secret-0123456789",
        peers,
        stateMachine: sm,
        heartbeatMs: 50,
        electionMs: 1000,
        fsync: false,
        seed: SEED,
        bootstrap: ids,
        requestTimeoutMs: 120_000,
      }),
    );
  }
  await Promise.all(drivers.map((d) => d.start()));
  await waitFor(() => drivers.some((d) => d.status().role === "leader"), "a leader", 60_000);
  const leader = drivers.find((d) => d.status().role === "leader") as RaftDriver;
  // kvCommand's JSON adds a few bytes: the value is cut so the command is exactly the maximum.
  const valueBytes = MAX_COMMAND_BYTES - kvCommand("x", "").length;
  const big = (fill: string): Uint8Array => kvCommand(fill, fill.repeat(valueBytes));
  const first = big("x");
  const second = big("y");
  assert.equal(first.length, MAX_COMMAND_BYTES);
  // One at a time: the uncommitted log holds 4 MiB, or one entry of any size when empty.
  await leader.propose(first);
  await leader.propose(second);
  await leader.propose(kvCommand("small", "after"));
  await waitFor(
    () => machines.every((m) => m.map.get("small") === "after"),
    `every node applied the entries after two of ${MAX_COMMAND_BYTES} bytes (${note})`,
    120_000,
  );
  for (const [i, m] of machines.entries()) {
    assert.equal(m.map.get("x")?.length, valueBytes, `node ${ids[i]}: x whole (${note})`);
    assert.equal(m.map.get("y")?.length, valueBytes, `node ${ids[i]}: y whole (${note})`);
  }
});
