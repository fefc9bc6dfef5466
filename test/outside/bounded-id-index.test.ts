// A pool's id index (proxy/routing/id-index.ts) is passed from snapshot to snapshot while the
// table stays the same (a drain, a health flip, an address change). It kept the member objects
// of the snapshot it was built from: after every member's address changed, each old member
// object, and its old address, stayed reachable through the index for as long as the table did.
// Read from outside: a child builds the snapshots (test/support/id-index-child.ts), holds only
// the last, and its heap (a snapshot over the inspector, after a full GC) is counted by class:
// no old address is left, the new ones are all there.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { reapOnExit } from "../support/child-reaper.js";
import { heapObjectCounts, INSPECT_ENV, inspectorUrl } from "../support/inspector-heap.js";
import { eventually } from "../support/wait.js";

const CHILD = fileURLToPath(new URL("../support/id-index-child.js", import.meta.url));

test("an old snapshot's member objects are collectable once only a later one with the same table is held", {
  timeout: 180_000,
}, async (t) => {
  const child = reapOnExit(spawn(process.execPath, [CHILD], { env: { ...process.env, ...INSPECT_ENV } }));
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  t.after(() => {
    child.kill("SIGKILL");
  });
  const url = await inspectorUrl(() => stderr);
  await eventually(
    "the child to build its snapshots",
    () => {
      if (child.exitCode !== null) throw new Error(`child exited ${child.exitCode}: ${stderr}`);
      return stdout.includes("built") ? true : undefined;
    },
    60_000,
  );
  const counts = await heapObjectCounts(url, ["OldAddress", "NewAddress"]);
  assert.equal(
    counts.NewAddress,
    101,
    `the held snapshot's addresses are counted: ${JSON.stringify(counts)}`,
  );
  assert.equal(counts.OldAddress, 0, `old member objects are still reachable: ${JSON.stringify(counts)}`);
});
