// Tried from the outside: an instance whose data directory filled up (ENOSPC on a WAL write)
// logs "raft stopped on a fatal error", and /readyz says degraded "raft_stopped"; but every
// admin write through it answered 503 not_committed "no quorum or leader change; retry:
// driver stopped", so an operator retried a change that can never commit on this instance.
// The driver's STOPPED and FATAL codes now answer 503 raft_stopped, naming the cause.
// Repro by hand: mount a 64 KiB tmpfs as --data-dir, fill it, then POST a drain.

import assert from "node:assert/strict";
import { test } from "node:test";
import { DriverError } from "../../config/raft/driver/errors.js";
import { proposalError } from "../../proxy/app/errors.js";

test("a stopped Raft driver answers 503 raft_stopped, not 'retry: not committed'", () => {
  for (const code of ["STOPPED", "FATAL"] as const) {
    const a = proposalError(new DriverError(code, "driver stopped"));
    assert.equal(a.status, 503, code);
    assert.equal(a.error, "raft_stopped", code);
    assert.equal(a.retryAfterS, 1, code);
    assert.match(a.message, /stopped .*restart.*driver stopped$/, code);
  }
  // A change that merely failed to commit still says retry.
  assert.equal(proposalError(new DriverError("NOT_LEADER", "no leader")).error, "not_committed");
});
