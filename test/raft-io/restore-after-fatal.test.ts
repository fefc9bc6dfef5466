// Nothing is applied after the driver stopped on a fatal error in the same Ready pass. The
// ReadyLoop calls restoreSnapshot, then applyReady with the pass's committed entries, then
// afterAdvance. A snapshot whose cluster id is not this directory's makes restoreSnapshot stop
// the driver (adoptCluster -> fatal, CLUSTER_MISMATCH) without restoring the state machine; the
// entries after it were still applied to the unrestored state machine, and afterAdvance could
// snapshot that state. Unreachable through the transport today (snapshotRefusal refuses such a
// snapshot on arrival), so the test hands the driver's Ready handler the pass the loop would.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import type { Ready } from "../../config/raft/core/index.js";
import { CURRENT_LEVEL } from "../../config/raft/core/index.js";
import { KIND_COMMAND, wrapEntry, wrapSnapshot } from "../../config/raft/driver/envelope.js";
import type { ReadyHandler } from "../../config/raft/driver/ready-loop.js";
import { DriverError, RaftDriver } from "../../config/raft/driver.js";
import { freePorts } from "../support/ports.js";
import { testDriverOptions } from "../support/raft-io/driver-options.js";
import { KvStateMachine, kvCommand } from "../support/raft-io/kv-state-machine.js";
import { waitFor } from "../support/wait.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-restore-fatal-"));
const drivers: RaftDriver[] = [];
after(async () => {
  for (const d of drivers) await d.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

test("a snapshot whose adoption fails stops the driver, and the same pass applies nothing after it", async () => {
  const [port] = await freePorts(1);
  const sm = new KvStateMachine();
  const d = new RaftDriver(
    testDriverOptions(
      root,
      "restore-after-fatal-secret-0123456789",
      "n1",
      { n1: `127.0.0.1:${port}` },
      {
        bootstrap: ["n1"],
        stateMachine: sm,
      },
    ),
  );
  drivers.push(d);
  await d.start();
  await waitFor(() => d.clusterId !== "", "the single node fixes its cluster id", 10_000);
  await d.propose(kvCommand("before", "1"));
  const fatals: Error[] = [];
  d.on("fatal", (e: Error) => fatals.push(e));
  const applied = d.status().appliedIndex;
  const term = d.status().term;
  const mapBefore = [...sm.map];
  const lastApplied = sm.lastApplied;

  // Another cluster's id: the same form, one digit changed.
  const own = d.clusterId;
  const other = `${own.slice(0, -1)}${own.endsWith("0") ? "1" : "0"}`;
  const snap = {
    meta: { index: applied + 5, term, conf: { voters: ["n1"], learners: [] } },
    data: wrapSnapshot({}, new KvStateMachine().snapshot(), {}, CURRENT_LEVEL, other),
  };
  const entry = {
    index: applied + 6,
    term,
    type: "normal" as const,
    data: wrapEntry(KIND_COMMAND, 0, 0, 0, kvCommand("after", "fatal")),
  };
  // The handler the driver gave its ReadyLoop, called in the loop's order for a snapshot pass.
  const handler = (d as unknown as { loop: { handler: ReadyHandler } }).loop.handler;
  handler.restoreSnapshot(snap);
  handler.applyReady({
    committedEntries: [entry],
    entries: [],
    messages: [],
    readStates: [],
  } as unknown as Ready);
  await handler.afterAdvance();

  assert.equal(fatals.length, 1, "the driver stopped once");
  assert.ok(fatals[0] instanceof DriverError && fatals[0].code === "CLUSTER_MISMATCH", String(fatals[0]));
  assert.equal(sm.map.has("after"), false, "no entry applied after the fatal error");
  assert.deepEqual([...sm.map], mapBefore, "the state machine is as it was");
  assert.equal(sm.lastApplied, lastApplied, "the state machine applied nothing more");
});
