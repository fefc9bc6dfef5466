// printableLine (config/printable.ts) escapes what could drive a terminal and cuts a long line.
// The cut was made in the escaped text, by position alone: it could fall inside an escape, so
// a config error or CLI line ended in `\x1` or a lone `\` (read as other text, or as the start
// of an escape the next output completes), and `...(N more)` counted escape characters, not
// the characters of the value left out. A line of 2,000 characters with one ESC in it was cut
// to report "3 more". Now the cut falls between whole characters as shown (an escape or a
// surrogate pair kept whole) and N counts what was left out of the value. Seeded strings over
// every kind of character the rule treats: plain, escaped with \x and \u, pairs, lone halves.

import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_LINE, printableLine } from "../../config/printable.js";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(0x9e1c7);

const PIECES = [
  "a",
  "Z",
  "\\",
  '"',
  "é",
  "\u001b",
  "\u0007",
  "\n",
  "\u007f",
  "\u009b",
  "\u061c",
  "\u200d",
  "\u202e",
  "\u2066",
  "\ufeff",
  "\ud83d\ude00",
  "\ud800",
  "\udc00",
];

/** The characters (code points; a lone surrogate is one) of `s`. */
function chars(s: string): string[] {
  return [...s];
}

test("a cut line keeps whole escapes and counts the characters of the value it left out", () => {
  const rand = seededRandom(SEED);
  for (let n = 0; n < 3000; n++) {
    const parts: string[] = [];
    const count = Math.floor(rand() * 40);
    for (let i = 0; i < count; i++) parts.push(pick(rand, PIECES));
    const s = parts.join("");
    const max = 1 + Math.floor(rand() * 30);
    const got = printableLine(s, max);
    const whole = printableLine(s, Number.POSITIVE_INFINITY);
    const at = `${JSON.stringify(s)} cut at ${max}: ${JSON.stringify(got)}; ${seedNote(SEED)}`;
    const m = /\.\.\.\((\d+) more\)$/.exec(got);
    if (chars(whole).length <= max) {
      assert.equal(got, whole, `not cut: ${at}`);
      continue;
    }
    assert.ok(m !== null, `cut, and says so: ${at}`);
    const left = Number(m[1]);
    const kept = chars(s).slice(0, chars(s).length - left);
    const shown = got.slice(0, m.index);
    // What is shown is exactly the value's first characters, each escaped whole.
    assert.equal(shown, printableLine(kept.join(""), Number.POSITIVE_INFINITY), `a prefix, whole: ${at}`);
    assert.ok(chars(shown).length <= max, `at most ${max} characters shown: ${at}`);
    // And as many as fit: the next character, as shown, would pass the bound.
    const next = printableLine(chars(s)[kept.length], Number.POSITIVE_INFINITY);
    assert.ok(chars(shown).length + chars(next).length > max, `as many as fit: ${at}`);
  }
});

test("a line of exactly MAX_LINE characters is whole; one more is cut with 1 more", () => {
  /** The end of a long line, and its length: an assertion message a reader can take in. */
  const tail = (line: string) => `${line.length}: ...${line.slice(-24)}`;
  const pairs = "\ud83d\ude00".repeat(MAX_LINE);
  assert.equal(tail(printableLine(pairs)), tail(pairs), "2,000 surrogate pairs are 2,000 characters");
  assert.equal(tail(printableLine(`${pairs}x`)), tail(`${pairs}...(1 more)`));
  const x = "x".repeat(MAX_LINE - 4);
  assert.equal(tail(printableLine(`${x}\u001b`)), tail(`${x}\\x1b`), "the escape fits whole");
  const over = "x".repeat(MAX_LINE - 1);
  assert.equal(
    tail(printableLine(`${over}\u001b`)),
    tail(`${over}...(1 more)`),
    "never `\\`, `\\x` or `\\x1`",
  );
});
