// Entry-by-entry decoding of Consul answers must equal JSON.parse of the whole body, keep the
// objects of byte-equal entries, and fail on what JSON.parse fails on.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ConsulAnswerCache, splitArray } from "../../health/consul-answer-cache.js";
import { seededRandom } from "../../ring/random.js";

const SEED = 1616;
const NASTY = ['"', "\\", "[", "]", "{", "}", ",", " ", "\n", "é", "\u2028", "💥", "a", "0"];

function randomString(r: () => number): string {
  let s = "";
  const n = Math.floor(r() * 8);
  for (let i = 0; i < n; i++) s += NASTY[Math.floor(r() * NASTY.length)];
  return s;
}

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 2 ? 4 : 6));
  if (k === 0) return randomString(r);
  if (k === 1) return Math.floor(r() * 1e6) - 5e5;
  if (k === 2) return r() < 0.5 ? null : r() < 0.5;
  if (k === 3) return { ID: randomString(r), Port: Math.floor(r() * 65536) };
  if (k === 4) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 4); i > 0; i--) o[randomString(r)] = randomValue(r, depth + 1);
  return o;
}

function encode(r: () => number, v: unknown[]): Buffer {
  // Pretty-printed or not, like Consul with and without ?pretty.
  return Buffer.from(r() < 0.5 ? JSON.stringify(v) : ` ${JSON.stringify(v, null, 2)}\n`);
}

test("decode equals JSON.parse over random answers and keeps byte-equal entries' objects", () => {
  const r = seededRandom(SEED);
  for (let round = 0; round < 50; round++) {
    const cache = new ConsulAnswerCache();
    const entries = Array.from({ length: Math.floor(r() * 20) }, () => randomValue(r, 0));
    const compact = () => Buffer.from(JSON.stringify(entries));
    const first = cache.decode(compact()) as unknown[];
    assert.deepEqual(first, entries, `seed ${SEED} round ${round}`);
    if (entries.length === 0) continue;
    const changed = Math.floor(r() * entries.length);
    entries[changed] = { changed: randomString(r), round };
    const second = cache.decode(compact()) as unknown[];
    assert.deepEqual(second, JSON.parse(compact().toString()), `seed ${SEED} round ${round}`);
    for (let i = 0; i < entries.length; i++) {
      if (i === changed) assert.notEqual(second[i], first[i], `seed ${SEED} round ${round} entry ${i}`);
      else assert.equal(second[i], first[i], `seed ${SEED} round ${round} entry ${i} not reused`);
    }
    // Pretty-printed text (other whitespace) still decodes to the same value.
    assert.deepEqual(new ConsulAnswerCache().decode(encode(r, entries)), JSON.parse(compact().toString()));
  }
});

test("bodies that are not a JSON array fail or decode exactly as JSON.parse does", () => {
  for (const text of ["", "[", "[1,]", "[,1]", "[1 2]", "[1]x", '["a]', "{}", "null", '"x"', "[}", " [ ] "]) {
    const buf = Buffer.from(text);
    let expected: unknown;
    let expectedError: unknown;
    try {
      expected = JSON.parse(text);
    } catch (err) {
      expectedError = err;
    }
    if (expectedError !== undefined)
      assert.throws(() => new ConsulAnswerCache().decode(buf), SyntaxError, `body ${JSON.stringify(text)}`);
    else assert.deepEqual(new ConsulAnswerCache().decode(buf), expected, `body ${JSON.stringify(text)}`);
  }
  assert.deepEqual(splitArray(Buffer.from('[ {"a":"]"} , "x\\"," ]')), [
    [2, 11],
    [14, 20],
  ]);
});
