// Algorithmic complexity, tried from an attacker's side: every parser a client's (or a peer's)
// bytes reach on the request path is fed the hostile families of bench/complexity-micro.ts
// (8,000 empty cookies, "&" floods, 10,000 path segments, thousands of trusted
// X-Forwarded-For entries, a Connection header naming thousands of fields, ...) at size n and
// 10n, and the work it does is counted rather than timed: every character a string search
// (indexOf, lastIndexOf, includes) passes over, every charCodeAt read, and the length of every
// slice, split and trim. Linear work grows ~10x for 10x the input; over 20x fails. Counting is
// exact and the same on a loaded machine, so the bound is tight where a timer could not be.
//
// Seen before the fix: a query key on a target holding a "%" compared every pair's name
// decoded, and searched for each pair's "=" from the pair's start on to the next "=" however
// far: "?%41&a&a&...&a" (4,000 pairs, within the 8 KiB request line) scanned 8 M characters,
// 250x its length; 10x the pairs, ~100x the work.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CANDIDATES, type Candidate } from "../../bench/complexity-micro.js";
import { queryValue } from "../../proxy/routing/key-extract.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { countWork } from "../support/work-counter.js";

const SEED = testSeed(1515);

/** Over this for 10x the input, a parser is super-linear (linear within 2x). */
const LIMIT_RATIO = 20;

/**
 * The bench's families whose work the counter sees. Left to the bench's timings: the PROXY
 * header (a Buffer parser, bounded at 1,040 bytes), the Forwarded reader's empty elements (it
 * reads `header[i]`, which nothing can count), a cluster outcomes batch and a Consul entry's tags
 * (JSON.parse and array work, no string method).
 */
const UNCOUNTED = [
  "PROXY v2",
  "Forwarded: N empty elements",
  "cluster message:",
  "Consul answer: one entry with N tags",
];
const STRING_FAMILIES: readonly Candidate[] = CANDIDATES.filter(
  (c) => !UNCOUNTED.some((u) => c.name.startsWith(u)),
);

describe("complexity: client-fed parsers do work linear in their input", () => {
  for (const c of STRING_FAMILIES) {
    it(c.name, () => {
      const [n, ten] = c.sizes;
      const small = countWork(c.build(n));
      const large = countWork(c.build(ten));
      // A family the counter sees nothing of would pass whatever the parser did.
      assert.ok(small.work > 0, `no work counted at n=${n}: the family is not measured`);
      const ratio = large.work / small.work;
      assert.ok(
        ratio <= LIMIT_RATIO,
        `${c.name}: ${small.work} at n=${n}, ${large.work} at n=${ten}: ${ratio.toFixed(1)}x for 10x the input`,
      );
    });
  }

  it("a query key on a target with a '%': seeded floods of pairs without '=' cost work linear in the target, and read as URLSearchParams does", () => {
    const rand = seededRandom(SEED);
    const note = seedNote(SEED);
    for (let round = 0; round < 20; round++) {
      // Up to the 8 KiB request line: pairs without "=", empty pairs, a "%" somewhere first,
      // and the key (spelled plainly or encoded) somewhere, or nowhere.
      const parts: string[] = [];
      const count = 500 + Math.floor(rand() * 3_000);
      for (let i = 0; i < count; i++) {
        const r = rand();
        parts.push(r < 0.5 ? "a" : r < 0.8 ? "" : r < 0.9 ? "%41" : "b%2");
      }
      const at = Math.floor(rand() * (count + 1));
      if (rand() < 0.8) parts.splice(at, 0, rand() < 0.5 ? "user=v%20w" : "%75ser=k");
      parts.unshift("%41");
      const url = `/p?${parts.join("&")}`;
      const { value, work } = countWork(() => queryValue(url, "user="));
      const expected = new URLSearchParams(url.slice(url.indexOf("?") + 1)).get("user") ?? "";
      assert.equal(value, expected, `${note}: ${url.slice(0, 80)}...`);
      assert.ok(
        work <= 6 * url.length,
        `${note}: ${work} characters of work for a ${url.length}-character target (${(work / url.length).toFixed(0)}x)`,
      );
    }
  });
});
