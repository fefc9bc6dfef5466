// The leader's snapshot-refusal log lines (config/raft/driver/snapshot-refusal-log.ts), on an
// injected clock: a line per peer per backoff step, refusals at the same step within the interval
// left unsaid and named by the next line, and each peer on its own. Deterministic.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SnapshotRefusalLog, snapshotRefusalCode } from "../../config/raft/driver/snapshot-refusal-log.js";

test("a line per peer per backoff step, then one per interval naming what went unsaid", () => {
  let now = 0;
  const lines: string[] = [];
  const log = new SnapshotRefusalLog(
    60_000,
    (l) => lines.push(l),
    () => now,
  );
  for (const retry of [2000, 4000, 8000, 16000, 32000]) {
    log.note("c", 10, "bad_snapshot", retry);
    now += retry;
  }
  assert.equal(lines.length, 5, lines.join("\n"));
  // At the cap, every newer snapshot is refused at the same step: silent until the interval ends.
  for (let i = 0; i < 20; i++) {
    now += 1000;
    log.note("c", 11 + i, "bad_snapshot", 32000);
  }
  assert.equal(lines.length, 5, "nothing more within the interval");
  log.note("d", 30, "", 2000);
  assert.equal(lines.length, 6, "another peer has its own line");
  assert.match(lines[5], /^d refused snapshot 30 \(code unknown\)/);
  now += 60_000;
  log.note("c", 40, "bad_snapshot", 32000);
  assert.equal(lines.length, 7);
  assert.match(
    lines[6],
    /^c refused snapshot 40 \(code bad_snapshot\): it could not restore it; next attempt in 32000 ms, or at the next snapshot taken \(20 more since the last line\)$/,
  );
  // A new leader term starts the backoff over: a new step, a line at once.
  log.note("c", 41, "bad_snapshot", 2000);
  assert.equal(lines.length, 8);
});

test("the code a peer names is counted as one of a fixed set", () => {
  assert.equal(snapshotRefusalCode("bad_snapshot"), "bad_snapshot");
  assert.equal(snapshotRefusalCode("cluster_mismatch"), "cluster_mismatch");
  assert.equal(snapshotRefusalCode(""), "other");
  assert.equal(snapshotRefusalCode("x".repeat(64)), "other");
});
