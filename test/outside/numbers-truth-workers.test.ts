// The numbers-truth scenario (test/support/numbers-truth.ts) with `workers: 2`: the access lines
// come from both workers and /metrics is the primary's sum of their registries, and both must
// still agree exactly with what clients and members saw.

import assert from "node:assert/strict";
import { test } from "node:test";
import { numbersTruth } from "../support/numbers-truth.js";
import { seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(14_061_215);

test("metrics and access log agree with what clients and members saw (workers: 2)", {
  timeout: 600_000,
}, async () => {
  const problems = await numbersTruth({ seed: SEED, workers: 2 });
  assert.deepEqual(problems, [], `${problems.length} disagreements; ${seedNote(SEED)}`);
});
