// Tried from the outside: do shardgate's metrics and access log tell what happened? One
// process (workers: 1) run through the seeded numbers-truth scenario (test/support/numbers-truth.ts):
// real members misbehaving on a seeded schedule, real clients (node:http, node:http2, raw
// sockets that leave or half-close), then the access log and /metrics held exactly to what
// clients and members saw. It found a half-closed client's request logged 200
// downstream_disconnected (and counted 2xx) although its answer's head never left: 499 now.

import assert from "node:assert/strict";
import { test } from "node:test";
import { numbersTruth } from "../support/numbers-truth.js";
import { seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(14_061_214);

test("metrics and access log agree with what clients and members saw (one process)", {
  timeout: 600_000,
}, async () => {
  const problems = await numbersTruth({ seed: SEED, workers: 1 });
  assert.deepEqual(problems, [], `${problems.length} disagreements; ${seedNote(SEED)}`);
});
