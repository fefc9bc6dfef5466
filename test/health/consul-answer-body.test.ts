// Answers compared with the last one a chunk at a time (consul-answer-body.ts): with socket-sized
// chunks that each hold many entries, a changed output, a registration and a deregistration
// among hundreds of entries decode as JSON.parse does and reuse every unchanged entry's object.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ConsulAnswerCache } from "../../health/consul-answer-cache.js";
import { seededRandom } from "../../ring/random.js";
import { testSeed } from "../support/prng.js";

const SEED = testSeed(1608);

function entry(i: number, output: string): unknown {
  return {
    Node: { Node: "n1", Address: "10.0.0.1", Meta: { "consul-network-segment": "" } },
    Service: { ID: `i${i}`, Service: "svc", Tags: [], Address: "127.0.0.1", Port: 1000 + i },
    Checks: [
      { CheckID: "serfHealth", Status: "passing", Output: "Agent alive and reachable" },
      { CheckID: `c${i}`, Status: "passing", Output: output },
    ],
  };
}

function feed(cache: ConsulAnswerCache, body: Buffer, chunk: number): unknown[] {
  const reader = cache.reader();
  for (let i = 0; i < body.length; i += chunk) reader.push(body.subarray(i, i + chunk));
  const value = reader.end() as unknown[];
  assert.equal(reader.wholeParsed, false, "split entry by entry");
  return value;
}

test("socket-sized chunks: one output changed, one registered, one deregistered", () => {
  const r = seededRandom(SEED);
  for (const pretty of [false, true]) {
    const encode = (v: unknown[]) => Buffer.from(pretty ? JSON.stringify(v, null, 2) : JSON.stringify(v));
    const cache = new ConsulAnswerCache();
    let entries = Array.from({ length: 600 }, (_, i) => entry(i, "ok"));
    let prev = feed(cache, encode(entries), 16_384);
    for (let step = 0; step < 30; step++) {
      const why = `seed ${SEED} pretty ${pretty} step ${step}`;
      const at = Math.floor(r() * entries.length);
      const op = step % 3;
      const next = [...entries];
      if (op === 0) next[at] = entry(600 + step, `output ${"x".repeat(Math.floor(r() * 40))} ${step}`);
      else if (op === 1) next.splice(at, 0, entry(1000 + step, "new"));
      else next.splice(at, 1);
      const body = encode(next);
      // Chunks of 1 KB to 64 KB (a loopback socket reads up to 64 KB).
      const got = feed(cache, body, 1024 * (1 + Math.floor(r() * 64)));
      assert.deepEqual(got, JSON.parse(body.toString()), why);
      let reused = 0;
      for (const v of got) if (prev.includes(v)) reused++;
      const unchanged = op === 1 ? entries.length : entries.length - 1;
      assert.equal(reused, unchanged, `${why}: every unchanged entry's object is reused`);
      entries = next;
      prev = got;
    }
  }
});

test("an answer equal to the last one, byte for byte, reuses everything", () => {
  const cache = new ConsulAnswerCache();
  const body = Buffer.from(JSON.stringify(Array.from({ length: 300 }, (_, i) => entry(i, "ok"))));
  const first = feed(cache, body, 65_536);
  const again = feed(cache, Buffer.from(body), 7_000);
  assert.equal(again.length, first.length);
  for (let i = 0; i < first.length; i++) assert.equal(again[i], first[i], `entry ${i} reused`);
});
