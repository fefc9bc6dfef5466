// MurmurHash3 x86_32: the published SMHasher vectors, and the shardgate key -> hash pins
// that make the hash a cross-release contract (changing any of them re-shards every fleet).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hashBytes, hashKey } from "../../ring/hash.js";
import { randomKeyHashes, randomKeys } from "../../ring/random.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const hex = (n: number): string => `0x${n.toString(16).padStart(8, "0")}`;

describe("hashBytes: published MurmurHash3 x86_32 vectors", () => {
  const vectors: [number[], number, number][] = [
    [[], 0, 0],
    [[], 1, 0x514e28b7],
    [[], 0xffffffff, 0x81f16f39],
    [[0xff, 0xff, 0xff, 0xff], 0, 0x76293b50],
    [[0x21, 0x43, 0x65, 0x87], 0, 0xf55b516b],
    [[0x21, 0x43, 0x65, 0x87], 0x5082edee, 0x2362f9de],
    [[0x21, 0x43, 0x65], 0, 0x7e4a8634],
    [[0x21, 0x43], 0, 0xa0f7b07a],
    [[0x21], 0, 0x72661cf4],
    [[0, 0, 0, 0], 0, 0x2362f9de],
    [[0, 0, 0], 0, 0x85f0b427],
    [[0, 0], 0, 0x30f4c306],
    [[0], 0, 0x514e28b7],
  ];
  for (const [bytes, seed, expected] of vectors) {
    it(`[${bytes.map((b) => b.toString(16)).join(" ")}] seed ${hex(seed)} -> ${hex(expected)}`, () => {
      assert.equal(hex(hashBytes(Uint8Array.from(bytes), bytes.length, seed)), hex(expected));
    });
  }

  it("hashes only the first len bytes", () => {
    const buf = Uint8Array.from([0x21, 0x43, 0x65, 0x87, 0x99, 0x99]);
    assert.equal(hex(hashBytes(buf, 4, 0)), hex(0xf55b516b));
  });

  it("rejects a len outside the buffer", () => {
    assert.throws(() => hashBytes(new Uint8Array(2), 3), RangeError);
    assert.throws(() => hashBytes(new Uint8Array(2), -1), RangeError);
  });
});

describe("hashKey: published string vectors (UTF-8)", () => {
  const vectors: [string, number, number][] = [
    ["", 0, 0],
    ["", 1, 0x514e28b7],
    ["", 0xffffffff, 0x81f16f39],
    ["\0\0\0\0", 0, 0x2362f9de],
    ["test", 0, 0xba6bd213],
    ["aaaa", 0x9747b28c, 0x5a97808a],
    ["a", 0x9747b28c, 0x7fa09ea6],
    ["Hello, world!", 1234, 0xfaf6cdb3],
    ["The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd],
    ["ππππππππ", 0x9747b28c, 0xd58063c1],
  ];
  for (const [key, seed, expected] of vectors) {
    it(`${JSON.stringify(key)} seed ${hex(seed)} -> ${hex(expected)}`, () => {
      assert.equal(hex(hashKey(key, seed)), hex(expected));
    });
  }
});

describe("hashKey: shardgate contract pins (never change)", () => {
  const pins: [string, number, number][] = [
    ["user:42", 0, 0xc7a6a375],
    ["session-8f3a9c", 0, 0x9ac756cd],
    ["/api/v1/orders/1234", 0, 0x6fac3729],
    ["10.0.0.1", 0, 0xec392163],
    ["m0-0", 0, 0x8ec11dbd],
    ["m0-159", 0, 0x9c2543ad],
    ["café", 0, 0x241c0f08],
    ["日本語キー", 0, 0xdffdd7d8],
    ["😀emoji", 0, 0x52f40ed8],
    ["a\uD800b", 0, 0xcb694923],
    ["x".repeat(1000), 0, 0x7120440e],
    ["user:42", 0x9747b28c, 0x4cd41df9],
  ];
  for (const [key, seed, expected] of pins) {
    it(`${JSON.stringify(key.length > 40 ? `${key.slice(0, 8)}…(${key.length})` : key)} -> ${hex(expected)}`, () => {
      assert.equal(hex(hashKey(key, seed)), hex(expected));
    });
  }

  it("equals hashBytes over the UTF-8 encoding for random keys (ASCII and not, long and short)", () => {
    const seed = testSeed(0x5eed_0001);
    const rnd = seededRandom(seed);
    const alphabet = ["a", "Z", "9", "-", "é", "ß", "日", "😀", "\uD800", "\uDFFF", "\0", "~"];
    const enc = new TextEncoder();
    for (let n = 0; n < 2000; n++) {
      let key = "";
      const len = Math.floor(rnd() * 700);
      for (let i = 0; i < len; i++) key += alphabet[Math.floor(rnd() * alphabet.length)];
      const bytes = enc.encode(key);
      const s = Math.floor(rnd() * 0xffffffff);
      assert.equal(
        hashKey(key, s),
        hashBytes(bytes, bytes.length, s),
        `key #${n} ${JSON.stringify(key.slice(0, 20))} (${seedNote(seed)})`,
      );
    }
    // Short ASCII keys with one character past ASCII at any place, in a whole block or in the
    // tail (hashKey reads ASCII keys from their character codes and must notice it anywhere),
    // including ones whose low byte looks like ASCII (U+0100, U+4141).
    const past = ["é", "\u0100", "\u0141", "\u4141", "\u8000", "日", "😀", "\uD800", "\u0080", "\u07ff"];
    for (let n = 0; n < 3000; n++) {
      const len = 1 + Math.floor(rnd() * 11);
      const at = Math.floor(rnd() * len);
      let key = "";
      for (let i = 0; i < len; i++)
        key +=
          i === at
            ? past[Math.floor(rnd() * past.length)]
            : String.fromCharCode(0x20 + Math.floor(rnd() * 0x5f));
      const bytes = enc.encode(key);
      const s = Math.floor(rnd() * 0xffffffff);
      assert.equal(
        hashKey(key, s),
        hashBytes(bytes, bytes.length, s),
        `short key #${n} ${JSON.stringify(key)} (${seedNote(seed)})`,
      );
    }
  });
});

describe("seeded key sets (ring simulate, bench)", () => {
  it("randomKeyHashes hashes exactly the keys randomKeys gives for the same seed", () => {
    // Fixed on purpose: these are the seeds given to randomKeys (including the largest), not the test's own.
    for (const seed of [1, 7, 0xffffffff]) {
      const keys = randomKeys(seed, 300, 12);
      assert.equal(new Set(keys).size, 300, `seed ${seed}`);
      assert.ok(
        keys.every((k) => /^[0-9A-Za-z_-]{12}$/.test(k)),
        `seed ${seed}`,
      );
      assert.deepEqual(
        [...randomKeyHashes(seed, 300, 12)],
        keys.map((k) => hashKey(k)),
        `seed ${seed}`,
      );
    }
    assert.notDeepEqual(randomKeys(1, 5), randomKeys(2, 5));
  });
});
