// quoteForLog (config/log-quote.ts) cuts a dependency's value (a Consul id, a Kubernetes watch
// ERROR event's message, cut at 200) before quoting it. The cut was at a UTF-16 position: a
// value whose character at the bound is outside the BMP (an emoji, a CJK extension ideograph)
// was cut between the halves of its surrogate pair, and the log line and /admin/discovery's
// last error showed `\ud83d`, half a character. Now the cut falls before the pair. Seeded
// values of ASCII, BMP and astral characters and lone halves, with random bounds.

import assert from "node:assert/strict";
import { test } from "node:test";
import { quoteForLog } from "../../config/log-quote.js";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(0x10c9e);

const PIECES = ["a", "é", "\u202e", "\ud83d\ude00", "\ud840\udc00", "\ud800", "\udc00", '"'];

test("a cut never splits a surrogate pair; it keeps all it can of the value", () => {
  const rand = seededRandom(SEED);
  for (let n = 0; n < 3000; n++) {
    const parts: string[] = [];
    const count = 1 + Math.floor(rand() * 30);
    for (let i = 0; i < count; i++) parts.push(pick(rand, PIECES));
    const value = parts.join("");
    const max = 1 + Math.floor(rand() * 40);
    const got = quoteForLog(value, max);
    const at = `${JSON.stringify(value)} cut at ${max}: ${got}; ${seedNote(SEED)}`;
    const m = /\.\.\.\((\d+) more\)$/.exec(got);
    const kept: string = JSON.parse(m === null ? got : got.slice(0, m.index));
    assert.ok(value.startsWith(kept), `a prefix of the value: ${at}`);
    assert.equal(m === null ? 0 : Number(m[1]), value.length - kept.length, `N counts what was left: ${at}`);
    if (value.length <= max) {
      assert.equal(kept, value, `not cut: ${at}`);
      continue;
    }
    // The last unit kept is no first half whose second half was left out.
    const last = kept.charCodeAt(kept.length - 1);
    const next = value.charCodeAt(kept.length);
    assert.ok(!(last >= 0xd800 && last <= 0xdbff && next >= 0xdc00 && next <= 0xdfff), `a pair split: ${at}`);
    assert.ok(kept.length === max || kept.length === max - 1, `at most one unit short: ${at}`);
  }
});

test("a 200-character cut of a Kubernetes message ending in an emoji shows no half of it", () => {
  const got = quoteForLog(`${"m".repeat(199)}\u{1f600} tail`, 200);
  assert.equal(got, `"${"m".repeat(199)}"...(7 more)`);
});
