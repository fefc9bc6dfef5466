// `workers: 2` over its life: a worker killed with SIGKILL is restarted (and serves again),
// and SIGTERM drains both workers, every in-flight request on either finishing, then exit 0.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  fetchJson,
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually, scaled } from "../support/wait.js";
import {
  allWorkersAt,
  type FreshReply,
  getOnFreshConnection,
  spreadUntilPids,
  workerViews,
} from "../support/workers.js";

describe("workers: 2, restarts and drain", { timeout: 240_000 }, () => {
  let upstreams: EchoUpstream[] = [];
  let sg: RunningShardgate;

  before(async () => {
    upstreams = await startUpstreams(3, "l");
    sg = await startShardgate(poolConfig({ members: upstreams.map((u) => ({ id: u.id, port: u.port })) }), {
      args: ["--workers", "2", "--drain-timeout", "30s"],
      timeoutMs: 60_000,
    });
  });
  after(async () => {
    await stopAll();
    await closeAll(upstreams);
  });

  it("restarts a killed worker, which serves again", async () => {
    const [w0, w1] = await allWorkersAt(sg, 2, 1);
    assert.ok(w1.pid !== null && w0.pid !== null);
    process.kill(w1.pid, "SIGKILL");
    const views = await eventually(
      "worker 1 restarted under a new pid",
      async () => {
        const v = await workerViews(sg);
        return v[1].pid !== null && v[1].pid !== w1.pid && v[1].ringVersion >= 1 ? v : undefined;
      },
      60_000,
      100,
    );
    assert.equal(views[1].restarts, 1);
    assert.equal(views[0].pid, w0.pid, "the other worker kept running");
    // A new pid is there from the fork on; it takes connections once it listens (logged then).
    await sg.proc.waitForLine(
      "the restarted worker listening",
      (l) => l.msg === "worker restarted" && l.worker === 1,
      60_000,
    );
    const died = sg.proc.lines.find((l) => l.msg === "worker died; restarting it");
    assert.equal(died?.signal, "SIGKILL", "the death is logged with its cause");
    // Both the survivor and the new worker serve.
    const from = sg.proc.lines.length;
    const replies = await spreadUntilPids(sg, (i) => `k${i}`, 2, 400, from);
    assert.ok(replies.every((r) => r.status === 200));
    const metrics = await fetchJson(`${sg.adminUrl}/metrics`);
    assert.equal(metricValue(metrics.text, "shardgate_worker_restarts_total", {}), 1);
  });

  it("SIGTERM drains both workers: every in-flight request finishes, then exit 0", async () => {
    await allWorkersAt(sg, 2, 1);
    // Long enough to be in flight from the first request to the signal: filling both workers
    // takes a few of the workers' 250 ms reports; every second past that was a second the
    // drain only waited (10 s here before, for the same check).
    for (const u of upstreams) u.mode = { kind: "delayHeaders", ms: scaled(5_000) };
    const inFlight: Promise<FreshReply>[] = [];
    // Slow requests on fresh connections until both workers hold some (the kernel picks which
    // worker accepts), as their reports to the primary say; bounded at 64 requests.
    await eventually(
      "both workers with requests in flight",
      async () => {
        const v = await workerViews(sg);
        if (v.every((w) => w.inFlight > 0)) return true;
        if (inFlight.length < 64)
          inFlight.push(getOnFreshConnection(sg.httpUrl, "/", `slow-${inFlight.length}`, 60_000));
        return undefined;
      },
      30_000,
      100,
    );
    // Every request sent is in a worker's hands (accepted and counted) before the signal.
    await eventually(
      `all ${inFlight.length} requests in flight`,
      async () => {
        const v = await workerViews(sg);
        return v[0].inFlight + v[1].inFlight === inFlight.length ? true : undefined;
      },
      30_000,
      50,
    );
    const mark = sg.proc.lines.length;
    sg.proc.signal("SIGTERM");
    const replies = await Promise.all(inFlight);
    for (const r of replies) assert.equal(r.status, 200, "an in-flight request finished normally");
    const exit = await sg.proc.waitExit(60_000);
    assert.deepEqual(exit, { code: 0, signal: null }, sg.proc.output());
    const drained = sg.proc.lines
      .slice(mark)
      .filter((l) => l.msg === "shutdown complete" && l.worker !== undefined)
      .map((l) => l.worker)
      .sort();
    assert.deepEqual(drained, [0, 1], "both workers drained");
  });
});
