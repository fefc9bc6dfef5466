// engine-profile's self times (bench/engine-profile.ts selfTimes) when the process waits for a
// core: a real Node process under a real `--cpu-prof` (100 us interval, as the bench runs it)
// spins in one function and is stopped (SIGSTOP) for 1 s while it does, the wait for a core a
// loaded machine imposes. Summed raw, the first sample after the stop
// carries the whole second into that function; with the cap the bench gives (twice the
// interval), the function reads what it ran.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type Profile, selfTimes } from "../../bench/engine-profile.js";

const INTERVAL_US = 100;
const STOP_MS = 1000;

// spinB says it has begun and spins until it has seen the wall clock jump (the stop) and then
// run 100 ms more of CPU time (5 s of CPU at most): stopped whenever the parent gets to it.
const CHILD = `
function cpuMs() { const u = process.cpuUsage(); return (u.user + u.system) / 1000; }
function spinA(ms) { const end = cpuMs() + ms; let x = 0; while (cpuMs() < end) for (let i = 0; i < 1e5; i++) x = (x * 31 + i) | 0; return x; }
function spinB() {
  const limit = cpuMs() + 5000;
  let x = 0;
  let last = performance.now();
  process.stdout.write("B\\n");
  let resumedAt = -1;
  while (cpuMs() < limit) {
    for (let i = 0; i < 1e5; i++) x = (x * 31 + i) | 0;
    const now = performance.now();
    if (resumedAt < 0 && now - last > ${STOP_MS / 2}) resumedAt = cpuMs();
    last = now;
    if (resumedAt >= 0 && cpuMs() > resumedAt + 100) break;
  }
  return x;
}
spinA(50);
spinB();
`;

function spinTotalUs(self: Map<string, number>, fn: string): number {
  let us = 0;
  for (const [k, v] of self) if (k.startsWith(`${fn} `)) us += v;
  return us;
}

test("a stopped process's wait is not counted as the next sampled function's self time", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-self-times-"));
  try {
    const child = spawn(
      process.execPath,
      ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${INTERVAL_US}`, "-e", CHILD],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // Stopped once spinB has begun, resumed STOP_MS later (the wait is what is measured).
    await new Promise<void>((resolve, reject) => {
      child.stdout.once("data", () => resolve());
      child.once("error", reject);
    });
    child.kill("SIGSTOP");
    await new Promise((r) => setTimeout(r, STOP_MS));
    child.kill("SIGCONT");
    assert.equal(await exited, 0);
    const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
    assert.ok(file !== undefined, "the child wrote no CPU profile");
    const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile;
    const all = 1e6; // seconds: the window covers the whole profile
    const raw = selfTimes(profile, all, 0);
    const capped = selfTimes(profile, all, 0, 2 * INTERVAL_US);
    // The stop's second went to one row (the sample taken after SIGCONT; spinB's, mostly).
    let gapRow = "";
    for (const [k, v] of raw) if (gapRow === "" || v > (raw.get(gapRow) ?? 0)) gapRow = k;
    const rawGap = raw.get(gapRow) ?? 0;
    const cappedGap = capped.get(gapRow) ?? 0;
    // Uncapped, that row holds the whole stop: the check below can fail.
    assert.ok(
      rawGap >= STOP_MS * 1000,
      `uncapped ${gapRow}: ${rawGap} us should include the ${STOP_MS} ms stop`,
    );
    // Capped, the row reads what it ran (spinB: the CPU it used, some 100 to 600 ms).
    assert.ok(
      cappedGap < rawGap - 0.6 * STOP_MS * 1000,
      `capped ${gapRow}: ${cappedGap} us still carries the ${STOP_MS} ms stop (uncapped ${rawGap} us)`,
    );
    assert.ok(spinTotalUs(capped, "spinB") > 20_000, "spinB was hardly sampled");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
