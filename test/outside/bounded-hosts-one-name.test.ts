// /etc/hosts with one name on 100,000 lines (a generated file, a load-balancing trick, a hostile
// edit): the reader built the name's address list with a search of the list per line, quadratic
// in that name's addresses (~5e9 comparisons, seconds of a blocked event loop on every change of
// the file). Now a name past a few addresses keeps a set beside its list: parsing 100 times the
// lines costs about 100 times the work, measured here against a 1,000-line file parsed in the
// same process (a ratio, not a wall-clock budget), with duplicates still dropped in file order.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseHosts } from "../../proxy/net/hosts-file.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(100_000);

function address(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

/** `n` distinct addresses of one name, in order, with seeded repeats of earlier lines mixed in. */
function oneName(n: number, random: () => number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(`${address(i)} many.example`);
    if (random() < 0.1) lines.push(`${address(Math.floor(random() * (i + 1)))}\tMANY.example # again`);
  }
  return `${lines.join("\n")}\n`;
}

function parseMs(text: string, times: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let k = 0; k < times; k++) {
    const t0 = performance.now();
    parseHosts(text);
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

test("one name on 100,000 lines parses in work linear in its lines, duplicates dropped in order", () => {
  const random = seededRandom(SEED);
  const small = oneName(1_000, random);
  const large = oneName(100_000, random);
  const names = parseHosts(large);
  const list = names.get("many.example") ?? [];
  assert.equal(list.length, 100_000, seedNote(SEED));
  for (let i = 0; i < list.length; i += 997) assert.equal(list[i].address, address(i), seedNote(SEED));
  assert.equal(new Set(list).size, list.length, "no address twice");
  parseMs(small, 20); // warm-up
  const smallMs = parseMs(small, 20);
  const largeMs = parseMs(large, 3);
  // 100 times the lines: ~300x measured with the set (a larger Map, GC), ~17,600x with the
  // list search per line (92.7 ms against 9.1 s); 3,000x leaves room for a loaded machine.
  const ratio = largeMs / Math.max(smallMs, 0.01);
  assert.ok(
    ratio < 3_000,
    `1,000 lines ${smallMs.toFixed(2)} ms, 100,000 lines ${largeMs.toFixed(1)} ms: ${ratio.toFixed(0)}x ${seedNote(SEED)}`,
  );
});
