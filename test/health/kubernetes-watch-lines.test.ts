// The line splitter under the Kubernetes watch: the same lines whatever the chunking (seeded
// random cuts, multi-byte characters cut in two), a line of exactly the limit kept, one byte
// more refused (with what was held let go), and a refusal mid-line even before any newline.

import assert from "node:assert/strict";
import { test } from "node:test";
import { BoundedLines, WatchLineTooLong } from "../../health/kubernetes-watch-stream.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

function feed(lines: BoundedLines, bytes: Buffer, random: () => number): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    const n = 1 + Math.floor(random() * 40);
    lines.push(bytes.subarray(at, at + n), (l) => out.push(l));
    at += n;
  }
  return out;
}

test("lines come out whole whatever the chunking", () => {
  const seed = testSeed(4_211);
  const random = seededRandom(seed);
  for (let round = 0; round < 200; round++) {
    const want = Array.from(
      { length: 1 + Math.floor(random() * 6) },
      (_, i) => `{"type":"ADDED","n":${i},"s":"é€${"x".repeat(Math.floor(random() * 50))}"}`,
    );
    const got = feed(new BoundedLines(1024), Buffer.from(`${want.join("\n")}\n`), random);
    assert.deepEqual(got, want, seedNote(seed));
  }
});

test("a line of exactly the limit is kept; one byte more is refused, with or without its newline", () => {
  const limit = 100;
  const seed = testSeed(4_212);
  const random = seededRandom(seed);
  const exact = "a".repeat(limit);
  assert.deepEqual(
    feed(new BoundedLines(limit), Buffer.from(`${exact}\nb\n`), random),
    [exact, "b"],
    seedNote(seed),
  );
  assert.throws(
    () => feed(new BoundedLines(limit), Buffer.from(`${exact}a\n`), random),
    WatchLineTooLong,
    seedNote(seed),
  );
  // No newline at all: refused as soon as the held bytes pass the limit, not at the end.
  const lines = new BoundedLines(limit);
  lines.push(Buffer.from(exact), () => assert.fail("no line yet"));
  assert.throws(() => lines.push(Buffer.from("a"), () => {}), /longer than 100 bytes/);
});
