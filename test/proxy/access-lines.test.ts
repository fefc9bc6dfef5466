// The access log's batched path (proxy/logging/logger.ts EncodedLines) and its number text
// (access-log.ts intText). Lines are encoded into one buffer and handed to pino's destination
// per ~40 KiB or 100 ms: they must come out whole, in order, in UTF-8, with pino's own lines
// in the place they were written (a pino line hands the pending access lines over first),
// and a line longer than the buffer must still be written. intText must print exactly what
// String(n) prints.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createAccessLog, intText } from "../../proxy/logging/access-log.js";
import { createProcessLogger } from "../../proxy/logging/logger.js";
import { seededRandom } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";
import { requestRecord as record } from "../support/request-record.js";
import { CONDITION_DEADLINE_MS, scaled } from "../support/wait.js";

const SEED = testSeed(0x5eed15);

interface Line {
  msg: string;
  requestId?: string;
  path?: string;
  keyHash?: number | null;
  time: number;
}

function readLines(file: string): Line[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  // The complete lines only: the batched destination may be read mid-write, and the text after
  // the last newline is then a line still being written (JSON.parse threw on it under load).
  return text
    .slice(0, text.lastIndexOf("\n") + 1)
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Line);
}

async function waitForLines(file: string, n: number): Promise<Line[]> {
  const deadline = Date.now() + scaled(CONDITION_DEADLINE_MS);
  let lines = readLines(file);
  while (lines.length < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    lines = readLines(file);
  }
  return lines;
}

test("intText prints what String(n) prints, for edge values and seeded random integers", () => {
  const rand = seededRandom(SEED);
  const values = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 100_000, 999_999, 1_000_000, 2 ** 32 - 1];
  values.push(Number.MAX_SAFE_INTEGER, 1_796_471_401_800);
  for (let i = 0; i < 20_000; i++) values.push(Math.floor(rand() * 2 ** (1 + Math.floor(rand() * 52))));
  for (const n of values) assert.equal(intText(n), String(n), `n=${n} ${seedNote(SEED)}`);
  // Not a non-negative safe integer: the ordinary JSON number text (or null).
  assert.equal(intText(-5), "-5");
  assert.equal(intText(1.5), "1.5");
  assert.equal(intText(Number.NaN), "null");
});

test("batched lines: a pino line keeps its place among access lines written in the same turn", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-lines-"));
  try {
    const file = join(dir, "out.jsonl");
    const log = createProcessLogger({ level: "info", destination: file });
    const access = createAccessLog(log.lines, true);
    for (let i = 0; i < 3; i++) access.write(record({ requestId: `a${i}` }));
    log.logger.info("between");
    for (let i = 3; i < 6; i++) access.write(record({ requestId: `a${i}` }));
    const lines = await waitForLines(file, 7);
    assert.deepEqual(
      lines.map((l) => l.requestId ?? l.msg),
      ["a0", "a1", "a2", "between", "a3", "a4", "a5"],
    );
    log.flush();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("batched lines: multi-byte paths, a line longer than the batch, key hashes and times come out whole", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-lines-"));
  try {
    const file = join(dir, "out.jsonl");
    const log = createProcessLogger({ level: "info", destination: file });
    const access = createAccessLog(log.lines, true);
    const rand = seededRandom(SEED + 1);
    const expected: Array<{ id: string; path: string; keyHash: number }> = [];
    const pieces = ["é", "中", "😀", "a", "/", "\u2028"];
    const before = Date.now();
    for (let i = 0; i < 400; i++) {
      // Line 200 alone is longer than the 40 KiB batch (3-byte characters).
      const len = i === 200 ? 20_000 : 1 + Math.floor(rand() * 200);
      let path = "/";
      for (let k = 0; k < len; k++) path += pieces[Math.floor(rand() * pieces.length)];
      const keyHash = Math.floor(rand() * 2 ** 32);
      expected.push({ id: `b${i}`, path, keyHash });
      access.write(record({ requestId: `b${i}`, path, keyHash }));
    }
    const lines = await waitForLines(file, 400);
    const after = Date.now();
    assert.equal(lines.length, 400, `${seedNote(SEED)} (+1)`);
    for (let i = 0; i < 400; i++) {
      const l = lines[i];
      assert.equal(l.requestId, expected[i].id, `line ${i} ${seedNote(SEED)} (+1)`);
      assert.equal(l.path, expected[i].path, `line ${i} ${seedNote(SEED)} (+1)`);
      assert.equal(l.keyHash, expected[i].keyHash, `line ${i} ${seedNote(SEED)} (+1)`);
      assert.ok(
        l.time >= before && l.time <= after,
        `line ${i}: time ${l.time} not in [${before}, ${after}]`,
      );
    }
    log.flush();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
