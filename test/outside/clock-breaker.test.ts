// The wall clock steps while a member's circuit breaker is open (tried from the outside on a real
// shardgate process under libfaketime, its one member answering 503). The breaker's decider and
// its cool-down timer run on the monotonic clock (health/controller/deps.ts SYSTEM_CLOCK.now and
// Node's timers); only the since/until stamps of the committed SetBreaker commands are wall time,
// and they are shown, never compared. So a step neither ends the cool-down early (forward) nor
// holds the breaker open for the step (back). This held on the old code too (checked): the test
// guards it against a regression, as the brief asked to prove it rather than assume it.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { ClockStep, clockStepMissing } from "../support/clock-step.js";
import { type BreakerView, parseState } from "../support/cluster/admin-views.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const missing = clockStepMissing();
/**
 * The test's own cool-down. A step of an hour dwarfs it either way: a wall-clock cool-down would
 * end at once after +1h and hold for the hour after -1h; 8 s leaves the half-of-it lower limit
 * (4 s) far above the next check after a step.
 */
const OPEN_FOR_MS = 8_000;

const clocks: ClockStep[] = [];
const servers: Server[] = [];

after(async () => {
  await stopAll();
  for (const f of servers) await new Promise<void>((r) => f.close(() => r()));
  for (const c of clocks) c.remove();
});

/** One shardgate with its own stepped clock and one member answering 503 (each case its own). */
class BreakerGate {
  readonly clock = new ClockStep();
  private sg: RunningShardgate | undefined;

  async start(): Promise<this> {
    clocks.push(this.clock);
    const failing = createServer((_req, res) => {
      res.writeHead(503, { "content-length": "4" });
      res.end("down");
    });
    servers.push(failing);
    await new Promise<void>((r) => failing.listen(0, "127.0.0.1", r));
    const port = (failing.address() as AddressInfo).port;
    this.sg = await startShardgate(
      `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
pools:
  p:
    members: [{ id: m1, address: "127.0.0.1:${port}" }]
    breaker: { consecutiveFailures: 3, minRequests: 1000, openFor: ${OPEN_FOR_MS}ms, maxOpenFor: ${OPEN_FOR_MS}ms }
routes:
  - { pool: p, key: [header:x-k] }
`,
      { env: this.clock.env },
    );
    return this;
  }

  private get gate(): RunningShardgate {
    assert.ok(this.sg, "BreakerGate.start() first");
    return this.sg;
  }

  async breakerOf(): Promise<BreakerView> {
    const r = await fetch(`${this.gate.adminUrl}/admin/state`);
    const s = parseState("/admin/state", await r.json());
    const m = s.pools.p?.members.find((x) => x.id === "m1");
    assert.ok(m, "member m1 in /admin/state");
    return m.breaker;
  }

  /** Sends failing requests until m1's breaker is open; resolves with when that was seen. */
  async trip(): Promise<number> {
    await eventually("m1's breaker open", async () => {
      const r = await fetch(`${this.gate.httpUrl}/x`, { headers: { "x-k": "k" } });
      await r.arrayBuffer();
      return (await this.breakerOf()) === "open" ? true : undefined;
    });
    return performance.now();
  }

  /** Resolves with when m1's breaker was seen half-open (the cool-down over), bounded by `ms` (scaled). */
  async halfOpen(ms: number): Promise<number> {
    await eventually(
      "m1's breaker half-open",
      async () => ((await this.breakerOf()) === "half-open" ? true : undefined),
      ms,
      200,
    );
    return performance.now();
  }
}

// The two cases wait out a cool-down each: their processes and clocks are separate, so they run
// side by side.
describe("clock steps against an open breaker", { skip: missing, concurrency: 2 }, () => {
  it("an open breaker's cool-down is not cut short by a +1h step", { timeout: 300_000 }, async () => {
    const g = await new BreakerGate().start();
    const opened = await g.trip();
    g.clock.step("+1h");
    const half = await g.halfOpen(OPEN_FOR_MS + 60_000);
    // The cool-down started before the open state was seen: half of it is a lower limit no
    // scheduling delay undercuts.
    assert.ok(
      half - opened >= OPEN_FOR_MS / 2,
      `half-open ${Math.round(half - opened)} ms after opening and a +1h step; openFor is ${OPEN_FOR_MS} ms`,
    );
  });

  it("an open breaker still goes half-open after its cool-down when the clock steps back an hour", {
    timeout: 300_000,
  }, async () => {
    const g = await new BreakerGate().start();
    const opened = await g.trip();
    g.clock.step("-1h");
    // eventually() fails past OPEN_FOR_MS + 60 s (scaled): the step did not hold it open.
    const half = await g.halfOpen(OPEN_FOR_MS + 60_000);
    assert.ok(
      half - opened >= OPEN_FOR_MS / 2,
      `half-open only ${Math.round(half - opened)} ms after opening`,
    );
  });
});
