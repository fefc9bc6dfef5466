// The RESP framing scanner behind `redis.maxReplyBytes` (proxy/redis/reply-bound.ts): replies of
// every shape, pipelined back to back and cut into chunks at seeded random places, are measured
// exactly: a bound equal to the largest reply never trips, one byte less always does.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ReplyScanner } from "../../proxy/redis/reply-bound.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(20_261_206);

function value(random: () => number, depth: number): string {
  const r = Math.floor(random() * (depth > 3 ? 6 : 9));
  const n = Math.floor(random() * 5);
  switch (r) {
    case 0:
      return `+OK${"k".repeat(n)}\r\n`;
    case 1:
      return `-ERR no ${n}\r\n`;
    case 2:
      return `:${Math.floor(random() * 1e9) - 5e8}\r\n`;
    case 3:
      return "$-1\r\n";
    case 4: {
      const len = Math.floor(random() * 300);
      return `$${len}\r\n${"\r\n*$1".repeat(75).slice(0, len)}\r\n`;
    }
    case 5:
      return "_\r\n";
    case 6:
      return `*${n}\r\n${Array.from({ length: n }, () => value(random, depth + 1)).join("")}`;
    case 7:
      return `%${n}\r\n${Array.from({ length: 2 * n }, () => value(random, depth + 1)).join("")}`;
    default:
      return n === 0
        ? "*-1\r\n"
        : `~${n}\r\n${Array.from({ length: n }, () => value(random, depth + 1)).join("")}`;
  }
}

function tripsAt(replies: string[], max: number, random: () => number): boolean {
  const bytes = Buffer.from(replies.join(""), "latin1");
  const s = new ReplyScanner(max);
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(random() * 40);
    if (s.write(bytes.subarray(at, at + size)) !== null) return true;
    at += size;
  }
  return false;
}

test("replies cut anywhere are measured exactly: the largest fits its own size, not one byte less", () => {
  const random = seededRandom(SEED);
  for (let round = 0; round < 300; round++) {
    const replies = Array.from({ length: 1 + Math.floor(random() * 6) }, () => value(random, 0));
    const largest = Math.max(...replies.map((r) => Buffer.byteLength(r, "latin1")));
    assert.equal(
      tripsAt(replies, largest, random),
      false,
      `round ${round} ${JSON.stringify(replies)} ${seedNote(SEED)}`,
    );
    assert.equal(
      tripsAt(replies, largest - 1, random),
      true,
      `round ${round} ${JSON.stringify(replies)} ${seedNote(SEED)}`,
    );
  }
});

test("a length over the bound trips at its header, before any of its bytes", () => {
  assert.match(new ReplyScanner(1024).write(Buffer.from("$1000000000\r\n")) ?? "", /1000000000-byte value/);
  assert.match(new ReplyScanner(1024).write(Buffer.from("*1000\r\n")) ?? "", /1000 elements/);
  assert.equal(new ReplyScanner(1024).write(Buffer.from("*300\r\n")), null, "300 elements may fit in 1 KiB");
});

test("nesting or a line without end trips on bytes alone", () => {
  const s = new ReplyScanner(4096);
  let tripped: string | null = null;
  for (let i = 0; i < 2000 && tripped === null; i++) tripped = s.write(Buffer.from("*1\r\n".repeat(16)));
  assert.match(tripped ?? "", /4096/);
  const line = new ReplyScanner(4096);
  tripped = null;
  for (let i = 0; i < 2000 && tripped === null; i++) tripped = line.write(Buffer.from("+".padEnd(64, "a")));
  assert.match(tripped ?? "", /more than 4096 bytes/);
});
