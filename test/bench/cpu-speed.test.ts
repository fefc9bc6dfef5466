// The CPU-speed probe (bench/cpu-speed.ts) with its real children pinned per CPU: it
// calibrates on every CPU, a run's figures are the samples that ended inside it, a round meter
// carries them, each child runs in its own session at nice 19, and stopping it ends every child.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { CpuSpeedProbe } from "../../bench/cpu-speed.js";
import { RoundMeter } from "../../bench/machine-load.js";

/** session id and nice of a process, from /proc/PID/stat. */
function sessionAndNice(pid: number): [number, number] {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return [Number(f[3]), Number(f[16])];
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("CPU-speed probe", () => {
  it("samples every CPU during a run and ends its children on stop", { timeout: 120_000 }, async () => {
    const probe = await CpuSpeedProbe.start({ intervalMs: 50, calibrate: 5 }, 60_000);
    assert.ok(typeof probe !== "string", `probe did not start: ${probe}`);
    const pids = probe.pids;
    try {
      assert.equal(pids.length, probe.coreCount);
      // Each probe leads its own session (so its own scheduler autogroup) at nice 19: in the
      // bench's session, even a nice-19 probe raised the bench's share of a loaded machine
      // (nginx under wrk served 1.7x the req/s with it than without, interleaved windows).
      for (const pid of pids)
        assert.deepEqual(sessionAndNice(pid), [pid, 19], `probe ${pid}: [session, nice]`);
      assert.ok(probe.coreCount >= 1);
      assert.ok(probe.calibrationUs > 0, `calibration ${probe.calibrationUs} us`);
      // Nothing ended before the probe started.
      const before = probe.window(0n, 1n);
      assert.equal(before.samples, 0);
      assert.ok(Number.isNaN(before.speed));
      const meter = new RoundMeter(probe);
      meter.start();
      const from = process.hrtime.bigint();
      // On a loaded machine a probe may wait for its CPU: wait for 3 samples on each, bounded.
      const deadline = Date.now() + 60_000;
      let w = probe.window(from, process.hrtime.bigint());
      while (Date.now() < deadline && !w.cores.every((c) => Number.isFinite(c))) {
        await new Promise((r) => setTimeout(r, 200));
        w = probe.window(from, process.hrtime.bigint());
      }
      const load = meter.stop();
      const speed = load.cpuSpeed;
      assert.ok(speed !== null);
      assert.equal(speed.cores.length, probe.coreCount);
      for (const c of speed.cores) assert.ok(Number.isFinite(c) && c > 0, `per-CPU speeds ${speed.cores}`);
      assert.equal(speed.speed, Math.min(...speed.cores));
      assert.ok(speed.samples >= probe.coreCount);
      // Without a probe the meter says nothing about speed.
      const plain = new RoundMeter();
      plain.start();
      assert.equal(plain.stop().cpuSpeed, null);
    } finally {
      await probe.stop();
    }
    for (const pid of pids) assert.equal(alive(pid), false, `probe ${pid} still running`);
  });
});
