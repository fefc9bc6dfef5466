// The Consul double's incremental answer encoding (test/support/consul/encoded-answer.ts):
// whatever the previous answer was, the body is byte for byte JSON.stringify of the entries,
// and each entry's recorded range holds that entry's JSON.

import assert from "node:assert/strict";
import { test } from "node:test";
import { type EncodedAnswer, encodeAnswer } from "../support/consul/encoded-answer.js";
import type { HealthEntryLike } from "../support/consul/filter.js";
import { seededRandom, testSeed } from "../support/prng.js";

const SEED = testSeed(20261205);

function entry(id: string, status: string, note: string): HealthEntryLike {
  return {
    Node: { Node: "n", Address: "127.0.0.1" },
    Service: { ID: id, Service: "svc", Tags: [], Address: "", Port: 80, Meta: { note } },
    Checks: [{ CheckID: `c-${id}`, Status: status, Output: `é "${note}"`, ServiceID: id }],
  } as unknown as HealthEntryLike;
}

test("an answer assembled from the last one equals JSON.stringify after seeded changes", () => {
  const r = seededRandom(SEED);
  const bytes = new WeakMap<HealthEntryLike, Buffer>();
  let calls = 0;
  const bytesOf = (e: HealthEntryLike): Buffer => {
    calls++;
    let b = bytes.get(e);
    if (b === undefined) {
      b = Buffer.from(JSON.stringify(e));
      bytes.set(e, b);
    }
    return b;
  };
  let list: HealthEntryLike[] = [];
  for (let i = 0; i < 40; i++) list.push(entry(`i${i}`, "passing", ""));
  let last: EncodedAnswer | undefined;
  for (let step = 0; step < 400; step++) {
    const next = [...list];
    const changes = 1 + Math.floor(r() * 3);
    let reordered = false;
    for (let c = 0; c < changes; c++) {
      const k = Math.floor(r() * (next.length + 1));
      const op = r();
      const fresh = entry(`x${step}-${c}`, r() < 0.5 ? "passing" : "critical", `${Math.floor(r() * 9)}`);
      if (op < 0.4 && k < next.length)
        next[k] = fresh; // changed: a new object
      else if (op < 0.6 && k < next.length)
        next.splice(k, 1); // deregistered
      else if (op < 0.8)
        next.splice(k, 0, fresh); // registered
      else if (next.length > 1) {
        next.reverse(); // a different order altogether
        reordered = true;
      }
    }
    if (r() < 0.05) next.length = 0;
    list = next;
    const before = calls;
    const a = encodeAnswer(list, last, bytesOf);
    const what = `seed=${SEED} step ${step}`;
    assert.equal(a.body.toString("utf8"), JSON.stringify(list), what);
    assert.equal(a.starts.length, list.length, what);
    for (let i = 0; i < list.length; i++)
      assert.equal(a.body.subarray(a.starts[i], a.ends[i]).toString("utf8"), JSON.stringify(list[i]), what);
    // Entries kept in order from the last answer are copied from it, not looked up again.
    if (last !== undefined && !reordered)
      assert.ok(
        calls - before <= changes,
        `${what}: ${calls - before} entries looked up for ${changes} changes`,
      );
    last = r() < 0.1 ? undefined : a;
  }
});

test("an unchanged answer is one copy of the last body", () => {
  const list = [entry("a", "passing", ""), entry("b", "critical", "x"), entry("c", "passing", "")];
  const bytesOf = (e: HealthEntryLike) => Buffer.from(JSON.stringify(e));
  const first = encodeAnswer(list, undefined, bytesOf);
  const again = encodeAnswer(list, first, () => assert.fail("an unchanged entry was encoded again"));
  assert.deepEqual(again.body, first.body);
  assert.deepEqual([again.starts, again.ends], [first.starts, first.ends]);
});
