// The request path counts "not served by the owner" from the owner chooseMember's walk
// started at (ownerOfLastChoice) instead of a second table lookup per request. That owner must
// be exactly table.lookup(hash) on ring and Maglev tables, whatever members are ineligible or
// skipped, and unknown (-1) under bounded load, where the full check runs instead.

import assert from "node:assert/strict";
import { test } from "node:test";
import { chooseMember, ownerOfLastChoice } from "../../proxy/routing/member-choice.js";
import { LiveBook } from "../../proxy/routing/pool-live.js";
import { seededRandom } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";
import { randomPoolSnapshot } from "../support/random-pool-snapshot.js";

const SEED = testSeed(1616);

for (const algorithm of ["ring", "maglev"] as const) {
  test(`${algorithm}: the owner of the last choice is table.lookup(hash), skipped or not (${seedNote(SEED)})`, () => {
    const rand = seededRandom(SEED);
    const s = randomPoolSnapshot({ algorithm, members: 50, rand });
    const live = new LiveBook().for(s);
    let notOwner = 0;
    for (let i = 0; i < 5000; i++) {
      const hash = Math.floor(rand() * 0x100000000) >>> 0;
      const chosen = chooseMember(s, hash, live, 0);
      const owner = s.table.lookup(hash);
      assert.equal(ownerOfLastChoice(), owner, `${seedNote(SEED)} hash ${hash}`);
      if (chosen !== owner) notOwner++;
    }
    // Both cases were exercised.
    assert.ok(notOwner > 100 && notOwner < 4900, `not-owner choices: ${notOwner}`);
  });
}

test(`bounded load: the owner of the last choice is unknown, so the full check runs (${seedNote(SEED)})`, () => {
  const rand = seededRandom(SEED);
  const s = randomPoolSnapshot({ algorithm: "ring", members: 20, rand, balanceFactor: 1.25 });
  const live = new LiveBook().for(s);
  chooseMember(s, 12345, live, 0);
  assert.equal(ownerOfLastChoice(), -1);
});
