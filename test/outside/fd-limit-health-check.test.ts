// Tried from the outside: the active health checker of an instance at its own descriptor
// limit. This test process lowers its own soft RLIMIT_NOFILE with `prlimit` and takes the
// descriptors left, so the checker's dials to a real, healthy member on loopback fail with a
// real EMFILE. That is this instance's shortage: the probes give no verdict and the member stays
// healthy (they counted as failures and marked it down after unhealthyThreshold, which the
// leader commits for the whole fleet). Once descriptors are free the probes pass again.

import assert from "node:assert/strict";
import { closeSync, openSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { poolSchema } from "../../config/file/schema.js";
import { ActiveHealthChecker } from "../../health/active-check.js";
import { fdLimitUnavailable, highestFd, setSoftFdLimit } from "../support/fd-limit.js";
import { testSeed } from "../support/prng.js";
import { eventually } from "../support/wait.js";

const SEED = testSeed(7);
const SKIP = fdLimitUnavailable();
/** Probes at the limit before the verdict is read: more than unhealthyThreshold. */
const PROBES_AT_LIMIT = 4;
/** Bounds the descriptors the test takes. */
const MAX_TAKEN = 4_096;

test("an active check that cannot open a socket (EMFILE) gives no verdict: the member stays healthy", {
  skip: SKIP ?? false,
}, async (t) => {
  // Every answer closes its connection, so every probe needs a fresh socket.
  const server = http.createServer((_req, res) => {
    res.setHeader("connection", "close");
    res.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const hc = poolSchema.parse({
    healthCheck: {
      path: "/health",
      interval: 250,
      timeout: 250,
      unhealthyThreshold: 2,
      healthyThreshold: 1,
    },
  }).healthCheck;
  assert.ok(hc);
  const changes: { healthy: boolean; reason: string }[] = [];
  const checker = new ActiveHealthChecker(
    hc,
    (_id, healthy, reason) => changes.push({ healthy, reason }),
    SEED,
  );
  t.after(() => checker.stop());
  checker.setMembers([{ id: "s1", address: "127.0.0.1", port }]);
  await eventually("the first verdict", () => (checker.observedHealth("s1") === true ? true : undefined));

  // Take every descriptor number below a limit just above this process's highest.
  const taken: number[] = [];
  setSoftFdLimit(process.pid, highestFd(process.pid) + 1 + 64);
  t.after(() => {
    for (const fd of taken.splice(0)) closeSync(fd);
  });
  for (;;) {
    assert.ok(taken.length < MAX_TAKEN, `took ${taken.length} descriptors without reaching the limit`);
    try {
      taken.push(openSync("/dev/null", "r"));
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, "EMFILE", String(err));
      break;
    }
  }
  const before = checker.state("s1")?.probes ?? 0;
  const reasons: string[] = [];
  await eventually(`${PROBES_AT_LIMIT} probes at the limit`, () => {
    const st = checker.state("s1");
    if (st === undefined) return undefined;
    if (!reasons.includes(st.lastReason)) reasons.push(st.lastReason);
    return st.probes >= before + PROBES_AT_LIMIT ? st : undefined;
  });
  // Free the descriptors before asserting (node:test needs them to report).
  for (const fd of taken.splice(0)) closeSync(fd);
  assert.ok(
    reasons.some((r) => r.startsWith("EMFILE")),
    `probes met EMFILE: ${JSON.stringify(reasons)}`,
  );
  assert.deepEqual(changes, [{ healthy: true, reason: "status 200" }], "no verdict from EMFILE");
  assert.equal(checker.observedHealth("s1"), true);
  const after = checker.state("s1")?.probes ?? 0;
  await eventually("a probe passes again once descriptors are free", () => {
    const st = checker.state("s1");
    return st !== undefined && st.probes > after && st.lastReason === "status 200" ? true : undefined;
  });
});
