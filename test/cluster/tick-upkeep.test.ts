// TickUpkeep: the cluster's periodic upkeep rides on the Raft driver's tick (issue 16: every
// timer of its own was a wake-up of an idle instance). Tasks run every round(interval /
// heartbeat) ticks; a task faster than the tick keeps its own timer; a throwing task neither
// stops the others nor escapes into the driver's tick.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TickUpkeep } from "../../proxy/cluster/tick-upkeep.js";
import { waitFor } from "../support/wait.js";

describe("cluster upkeep on the driver tick", () => {
  it("runs each task every round(interval / heartbeat) ticks, isolating failures", () => {
    const runs = { outcomes: 0, membership: 0, broken: 0 };
    const errors: string[] = [];
    const upkeep = new TickUpkeep(
      50,
      [
        { name: "outcomes", intervalMs: 100, run: () => runs.outcomes++ },
        { name: "membership", intervalMs: 250, run: () => runs.membership++ },
        {
          name: "broken",
          intervalMs: 50,
          run: () => {
            runs.broken++;
            throw new Error("boom");
          },
        },
      ],
      (task, err) => errors.push(`${task}: ${(err as Error).message}`),
    );
    try {
      assert.deepEqual(upkeep.periods, { outcomes: 2, membership: 5, broken: 1 });
      for (let i = 0; i < 10; i++) upkeep.tick();
      assert.deepEqual(runs, { outcomes: 5, membership: 2, broken: 10 });
      assert.equal(errors.length, 10);
      assert.equal(errors[0], "broken: boom");
    } finally {
      upkeep.stop();
    }
    // Stopped: ticks run nothing.
    upkeep.tick();
    assert.deepEqual(runs, { outcomes: 5, membership: 2, broken: 10 });
  });

  it("rounds to the nearest tick (the default 100 ms heartbeat: membership every 3rd)", () => {
    const upkeep = new TickUpkeep(
      100,
      [
        { name: "outcomes", intervalMs: 100, run: () => {} },
        { name: "membership", intervalMs: 250, run: () => {} },
      ],
      () => {},
    );
    assert.deepEqual(upkeep.periods, { outcomes: 1, membership: 3 });
    upkeep.stop();
  });

  it("keeps a timer of its own for a task faster than the tick", async () => {
    let fast = 0;
    let slow = 0;
    const upkeep = new TickUpkeep(
      1_000,
      [
        { name: "fast", intervalMs: 5, run: () => fast++ },
        { name: "slow", intervalMs: 1_000, run: () => slow++ },
      ],
      () => {},
    );
    try {
      assert.deepEqual(upkeep.periods, { slow: 1 });
      // No tick is ever called here: only the task's own timer can make it run.
      await waitFor(() => fast >= 3, "the fast task to run on its own timer", 10_000);
      assert.equal(slow, 0);
    } finally {
      upkeep.stop();
    }
  });
});
