// The seeded nemesis with real processes (issue 9); see nemesis/run-nemesis.ts.
// The seed is printed, and a failure says how to replay it: TEST_SEED=N (or npm run nemesis -- --seed N).
// NEMESIS_DURATION_MS shortens or lengthens the fault phase: 20 s in the suite, the CLI's one
// minute for a long look (npm run nemesis -- --duration-ms N). 20 s is enough for the suite
// because the guard is the fault count, not the clock: a 30 s run made 16 faults of the four
// kinds, 20 s makes about ten, and the phase runs on until MIN_FAULTS were made whatever the
// load; each run draws a fresh seed, so the runs between them keep covering new schedules.
import assert from "node:assert/strict";
import { test } from "node:test";
import { seedNote, testSeed } from "../support/prng.js";
import { runNemesis } from "./nemesis/run-nemesis.js";

const SEED = testSeed(Math.floor(Math.random() * 1_000_000));
const DURATION_MS = Number(process.env.NEMESIS_DURATION_MS ?? 20_000);
const MIN_FAULTS = 8;

test(`nemesis: kill -9, restart, cut and heal for ${DURATION_MS / 1000} s; acknowledged drains survive`, async () => {
  console.log(`# nemesis ${seedNote(SEED)} (or npm run nemesis -- --seed ${SEED})`);
  // At least MIN_FAULTS faults whatever the machine's load (the phase runs on for up to its length again).
  const r = await runNemesis(SEED, DURATION_MS, MIN_FAULTS);
  console.log(`# nemesis: ${r.actions.length} faults, ${r.attempts} operations, ${r.acked} acknowledged`);
  assert.deepEqual(r.problems, [], `${seedNote(SEED)}; schedule: ${r.actions.join(", ")}`);
  assert.ok(r.acked > 0, `${seedNote(SEED)}: no operation was acknowledged (vacuous run)`);
  assert.ok(r.actions.length >= MIN_FAULTS, `${seedNote(SEED)}: only ${r.actions.length} faults`);
});
