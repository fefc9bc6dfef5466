// The proposer's validation of a big command is reused when the same bytes are applied, and
// only then: other bytes, invalid bytes and small commands are validated in full every time.

import assert from "node:assert/strict";
import { test } from "node:test";
import { validateCommand } from "../../config/state/commands.js";
import { validateCommandOnce } from "../../config/state/validated-once.js";
import { routingFrom, setRouting } from "./cluster-fixtures.js";

function bigRouting(members: number): ReturnType<typeof routingFrom> {
  let yaml = "pools:\n  big:\n    members:\n";
  for (let i = 0; i < members; i++) yaml += `      - { id: m${i}, address: "127.0.0.1:${10000 + i}" }\n`;
  return routingFrom(`${yaml}routes:\n  - pool: big\n    key: [ip]\n`);
}

test("the same big command bytes validate once; a copy of the bytes (what apply sees) takes the result", () => {
  const bytes = setRouting(bigRouting(1000));
  assert.ok(bytes.byteLength >= 16 * 1024);
  const first = validateCommandOnce(bytes);
  assert.ok(first.ok);
  // The log hands apply its own copy of the bytes: same content, same result object.
  assert.equal(validateCommandOnce(Uint8Array.from(bytes)), first);
  assert.deepEqual(validateCommand(bytes), first, "the remembered result is what validation gives");
  // Taken once: a third look validates afresh (equal result, new object), nothing stays held.
  const third = validateCommandOnce(bytes);
  assert.notEqual(third, first);
  assert.deepEqual(third, first);
});

test("bytes that differ in one byte, or are invalid, are validated in full", () => {
  const bytes = setRouting(bigRouting(1000));
  const ok = validateCommandOnce(bytes);
  assert.ok(ok.ok);
  const text = new TextDecoder().decode(bytes);
  // Same length, different member address port: a valid but different command.
  const other = new TextEncoder().encode(text.replace('"port":10999', '"port":10998'));
  assert.notDeepEqual(other, bytes);
  const r = validateCommandOnce(other);
  assert.ok(r.ok);
  assert.notEqual(r, ok);
  // A duplicate member id the schema refuses: never taken from the cache, never a throw.
  const dup = new TextEncoder().encode(text.replace('"id":"m1"', '"id":"m0"'));
  for (let i = 0; i < 2; i++) {
    const bad = validateCommandOnce(dup);
    assert.equal(bad.ok, false);
  }
  const garbage = new Uint8Array(20_000).fill(0xff);
  assert.equal(validateCommandOnce(garbage).ok, false);
});
