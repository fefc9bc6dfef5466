// Entry-by-entry decoding of Consul answers, fed in chunks cut anywhere, must equal JSON.parse
// of the whole body, keep the objects of byte-equal entries (after a change, a registration or
// a deregistration), and fail on exactly what JSON.parse fails on (malformed, truncated).

import assert from "node:assert/strict";
import { test } from "node:test";
import { ConsulAnswerCache } from "../../health/consul-answer-cache.js";
import { seededRandom } from "../../ring/random.js";
import { testSeed } from "../support/prng.js";

const SEED = testSeed(1616);
const NASTY = ['"', "\\", "\\\\", '\\"', "[", "]", "{", "}", ",", " ", "\n", "é", "\u2028", "💥", "a", "0"];

function randomString(r: () => number): string {
  let s = "";
  const n = Math.floor(r() * 8);
  for (let i = 0; i < n; i++) s += NASTY[Math.floor(r() * NASTY.length)];
  return s;
}

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 2 ? 4 : 7));
  if (k === 0) return randomString(r);
  if (k === 1) return Math.floor(r() * 1e6) - 5e5;
  if (k === 2) return r() < 0.5 ? null : r() < 0.5;
  if (k === 3) return { ID: randomString(r), Port: Math.floor(r() * 65536) };
  if (k === 4) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  if (k === 5) return consulEntry(r);
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 4); i > 0; i--) o[randomString(r)] = randomValue(r, depth + 1);
  return o;
}

/** The shape a real answer's entries have, with strings that need escaping. */
function consulEntry(r: () => number): unknown {
  const id = `i${Math.floor(r() * 1e6)}${randomString(r)}`;
  return {
    Node: { Node: "n1", Address: "10.0.0.1", Meta: { k: randomString(r) } },
    Service: {
      ID: id,
      Service: "web",
      Tags: [randomString(r)],
      Port: 80,
      Weights: { Passing: 1, Warning: 1 },
    },
    Checks: [{ CheckID: "serfHealth", Status: "passing", Output: randomString(r) }],
  };
}

/** Compact, or pretty-printed (Consul's ?pretty) with a leading space and a trailing newline. */
function encode(v: unknown, pretty: boolean): Buffer {
  return Buffer.from(pretty ? ` ${JSON.stringify(v, null, 2)}\n` : JSON.stringify(v));
}

/** Feeds `body` to a reader in chunks of random sizes (often 1 byte, so every boundary is hit). */
function feed(cache: ConsulAnswerCache, body: Buffer, r: () => number): unknown {
  const reader = cache.reader();
  let i = 0;
  while (i < body.length) {
    const n = r() < 0.3 ? 1 : 1 + Math.floor(r() * 64);
    reader.push(body.subarray(i, i + n));
    i += n;
  }
  const value = reader.end();
  // A well-formed array is always split entry by entry, never handed to JSON.parse whole.
  if (Array.isArray(value)) assert.equal(reader.wholeParsed, false, `parsed whole: ${body.toString()}`);
  return value;
}

/** What JSON.parse makes of the text: a value or an error. */
function reference(text: string): { value?: unknown; error?: unknown } {
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return { error };
  }
}

test("chunked decode equals JSON.parse and reuses the objects of unchanged entries", () => {
  const r = seededRandom(SEED);
  for (let round = 0; round < 80; round++) {
    const why = `seed ${SEED} round ${round}`;
    const pretty = r() < 0.3;
    const cache = new ConsulAnswerCache();
    let entries = Array.from({ length: Math.floor(r() * 20) }, () => randomValue(r, 0));
    let prev = feed(cache, encode(entries, pretty), r) as unknown[];
    assert.deepEqual(prev, entries, why);
    for (let step = 0; step < 6; step++) {
      // One change, registration or deregistration, or none: old index -> new index.
      const op = Math.floor(r() * 4);
      const at = Math.floor(r() * (entries.length + 1));
      const next = [...entries];
      const kept: [number, number][] = [];
      if (op === 0 && at < entries.length) next[at] = { changed: randomString(r), step };
      else if (op === 1) next.splice(at, 0, consulEntry(r));
      else if (op === 2 && at < entries.length) next.splice(at, 1);
      for (let o = 0; o < entries.length; o++) {
        if (op === 0 && o === at) continue;
        if (op === 2 && o === at) continue;
        const n = op === 1 && o >= at ? o + 1 : op === 2 && o > at ? o - 1 : o;
        kept.push([o, n]);
      }
      const body = encode(next, pretty);
      const got = feed(cache, body, r) as unknown[];
      assert.deepEqual(got, JSON.parse(body.toString()), `${why} step ${step} op ${op}`);
      // Every kept entry is a previous object, never re-parsed. The cache matches bytes, not
      // edits: when the previous answer held byte-equal twins ([.., A, A, ..] with the first one
      // changed), the kept A may take its twin's object, which decodes to the same value. So
      // the object must be a previous one with the same text, and is exactly prev[o] whenever
      // that text was unique in the previous answer. (assert.ok: Node 20's assert.equal drops
      // the message, and with it the seed, when two objects are deep- but not reference-equal.)
      for (const [o, n] of kept) {
        const m = prev.indexOf(got[n]);
        const text = JSON.stringify(next[n]);
        assert.ok(
          m >= 0 && JSON.stringify(prev[m]) === text,
          `${why} step ${step} op ${op}: entry ${o}->${n} not reused (got ${m >= 0 ? `previous ${m}` : "a new object"})`,
        );
        if (prev.filter((e) => JSON.stringify(e) === text).length === 1)
          assert.ok(got[n] === prev[o], `${why} step ${step} op ${op}: entry ${o}->${n} took previous ${m}`);
      }
      // Every previous object is reused at most once, and in the previous answer's order.
      const reusedAt = got
        .map((v) => (v !== null && typeof v === "object" ? prev.indexOf(v) : -1))
        .filter((m) => m >= 0);
      for (let k = 1; k < reusedAt.length; k++)
        assert.ok(
          reusedAt[k - 1] < reusedAt[k],
          `${why} step ${step}: previous objects reused as ${reusedAt.join(",")}`,
        );
      entries = next;
      prev = got;
    }
  }
});

test("malformed and truncated bodies fail or decode exactly as JSON.parse does, chunked or whole", () => {
  const r = seededRandom(SEED + 1);
  const fixed = [
    "",
    "[",
    "[1,]",
    "[,1]",
    "[1 2]",
    "[1]x",
    '["a]',
    "{}",
    "null",
    '"x"',
    "[}",
    " [ ] ",
    "[1] ]",
  ];
  for (const text of fixed) {
    const ref = reference(text);
    for (const chunked of [false, true]) {
      const run = () =>
        chunked
          ? feed(new ConsulAnswerCache(), Buffer.from(text), r)
          : new ConsulAnswerCache().decode(Buffer.from(text));
      if (ref.error !== undefined) assert.throws(run, SyntaxError, `body ${JSON.stringify(text)}`);
      else assert.deepEqual(run(), ref.value, `body ${JSON.stringify(text)}`);
    }
  }
  for (let round = 0; round < 400; round++) {
    const why = `seed ${SEED + 1} round ${round}`;
    const entries = Array.from({ length: 1 + Math.floor(r() * 8) }, () => randomValue(r, 0));
    const good = encode(entries, r() < 0.3);
    const cache = new ConsulAnswerCache();
    feed(cache, good, r); // the previous answer: the corrupt one is compared with it first
    let text = good.toString("latin1");
    const cut = Math.floor(r() * text.length);
    const kind = Math.floor(r() * 3);
    if (kind === 0)
      text = text.slice(0, cut); // truncated
    else if (kind === 1) text = text.slice(0, cut) + NASTY[Math.floor(r() * NASTY.length)] + text.slice(cut);
    else text = text.slice(0, cut) + text.slice(cut + 1);
    const body = Buffer.from(text, "latin1");
    const ref = reference(body.toString("utf8"));
    if (ref.error !== undefined) assert.throws(() => feed(cache, body, r), SyntaxError, `${why}: ${text}`);
    else assert.deepEqual(feed(cache, body, r), ref.value, `${why}: ${text}`);
    // Whatever happened, the next good answer decodes right.
    assert.deepEqual(feed(cache, good, r), entries, why);
  }
});

test("a previous entry is reused only when its bytes are the whole new entry", () => {
  const cases: [string, string][] = [
    ["[12,7]", "[123,7]"],
    ["[12,7]", "[12 3,7]"],
    ['[{"a":1},7]', '[{"a":1}2,7]'],
    ['["x",7]', '["x"y",7]'],
    ["[12,7]", "[12"],
    ["[12,7]", "[12,"],
    ["[12,7]", "[12 , 7 ]"],
    ["[1,2,3]", "[1,3]"],
    ["[1,2,3]", "[1,9,2,3]"],
  ];
  for (const [before, after] of cases) {
    const cache = new ConsulAnswerCache();
    cache.decode(Buffer.from(before));
    const ref = reference(after);
    for (const size of [1, 2, 3, 100]) {
      const c = new ConsulAnswerCache();
      c.decode(Buffer.from(before));
      const reader = c.reader();
      const b = Buffer.from(after);
      for (let i = 0; i < b.length; i += size) reader.push(b.subarray(i, i + size));
      if (ref.error !== undefined) assert.throws(() => reader.end(), SyntaxError, `${before} -> ${after}`);
      else {
        assert.deepEqual(reader.end(), ref.value, `${before} -> ${after} in chunks of ${size}`);
        assert.equal(reader.wholeParsed, false, `${before} -> ${after}: split, not parsed whole`);
      }
    }
  }
});
