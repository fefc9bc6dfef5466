// `npm run nemesis -- [--seed N] [--duration-ms MS]`: one seeded nemesis run (--seed, else
// TEST_SEED as every seeded test takes it, else a random one; see
// run-nemesis.ts); prints the seed first, the schedule, and a summary line last. The same
// seed replays the same schedule (kill/restart/cut/heal choices and the writer's operations;
// what the processes do in between is real time).
import { SEED_OVERRIDE } from "../../support/prng.js";
import { runNemesis } from "./run-nemesis.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const seed = Number(arg("--seed") ?? SEED_OVERRIDE ?? Math.floor(Math.random() * 1_000_000));
const durationMs = Number(arg("--duration-ms") ?? 60_000);
if (!Number.isInteger(seed) || seed < 0 || !Number.isFinite(durationMs) || durationMs < 1_000) {
  process.stderr.write("usage: nemesis [--seed N] [--duration-ms MS (>= 1000)]\n");
  process.exit(2);
}
process.stdout.write(`nemesis seed ${seed} (replay: npm run nemesis -- --seed ${seed})\n`);
const r = await runNemesis(seed, durationMs);
for (const a of r.actions) process.stdout.write(`  ${a}\n`);
for (const p of r.problems) process.stdout.write(`PROBLEM ${p}\n`);
process.stdout.write(
  `nemesis ${r.ok ? "PASS" : "FAIL"}: seed ${seed}, ${r.actions.length} faults, ${r.attempts} operations (${r.acked} acknowledged), ring version ${r.ringVersion}\n`,
);
process.exitCode = r.ok ? 0 : 1;
