// Active health checks on a loaded machine: a probe deadline that passes while the checker's own
// event loop is stalled (the process not scheduled) must not count an answering member as
// timed out, while a member that really hangs is still judged. The stall is played by blocking
// this process's loop synchronously, so it happens on a quiet machine too.

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { type HealthCheckConfig, poolSchema } from "../../config/file/schema.js";
import { ActiveHealthChecker } from "../../health/active-check.js";
import { testSeed } from "../support/prng.js";
import { eventually } from "../support/wait.js";

const SEED = testSeed(4409);
const TIMEOUT_MS = 200;

function check(section: Record<string, unknown>): HealthCheckConfig {
  const hc = poolSchema.parse({ healthCheck: { path: "/health", ...section } }).healthCheck;
  assert.ok(hc);
  return hc;
}

/** Blocks this process's event loop for `ms`: what a starved process looks like to its timers. */
function stallLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: no timer, socket or immediate runs meanwhile
  }
}

/** A loopback member in this process; `onRequest` runs before it answers 200 (or never, if it returns false). */
async function member(
  t: { after(fn: () => Promise<void>): void },
  onRequest: (n: number) => boolean,
): Promise<number> {
  let n = 0;
  const server = http.createServer((_req, res) => {
    n++;
    if (onRequest(n)) res.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return (server.address() as AddressInfo).port;
}

test("an answer that arrived while the checker's loop was stalled past the deadline is a success", async (t) => {
  const events: string[] = [];
  // The first probe's request is read, then the loop stalls for 3 timeouts before the answer is
  // written: when it runs again the deadline timer is due before the answer is read.
  const port = await member(t, (n) => {
    if (n === 1) stallLoop(3 * TIMEOUT_MS);
    return true;
  });
  const checker = new ActiveHealthChecker(
    check({ interval: TIMEOUT_MS, timeout: TIMEOUT_MS, healthyThreshold: 1, unhealthyThreshold: 1 }),
    (id, healthy, reason) => events.push(`${id} ${healthy} ${reason}`),
    SEED,
  );
  t.after(() => checker.stop());
  checker.setMembers([{ id: "m", address: "127.0.0.1", port }]);
  await eventually("3 probes", () => ((checker.state("m")?.probes ?? 0) >= 3 ? true : undefined));
  assert.deepEqual(events, ["m true status 200"], `seed=${SEED}`);
  assert.equal(checker.state("m")?.consecutiveFailures, 0);
});

test("a member that never answers is still timed out when the loop stalls past its deadline", async (t) => {
  const events: string[] = [];
  const port = await member(t, (n) => {
    if (n === 1) stallLoop(3 * TIMEOUT_MS);
    return false;
  });
  const checker = new ActiveHealthChecker(
    check({ interval: TIMEOUT_MS, timeout: TIMEOUT_MS, healthyThreshold: 1, unhealthyThreshold: 1 }),
    (id, healthy, reason) => events.push(`${id} ${healthy} ${reason}`),
    SEED,
  );
  t.after(() => checker.stop());
  checker.setMembers([{ id: "h", address: "127.0.0.1", port }]);
  await eventually("a verdict", () => (events.length > 0 ? true : undefined));
  assert.deepEqual(events, [`h false timeout after ${TIMEOUT_MS}ms`], `seed=${SEED}`);
});
