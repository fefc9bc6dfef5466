// Generated request ids: "<process prefix>-<counter in base 36>", the counter's text exactly what
// Number#toString(36) prints (request-id.ts builds its last two digits from a table), across
// the 1,296-id blocks where the table's head changes.

import assert from "node:assert/strict";
import { test } from "node:test";
import { isAcceptableRequestId, newRequestId } from "../../proxy/forward/request-id.js";

test("request ids: consecutive counters in canonical base 36 behind one prefix, across table blocks", () => {
  const first = newRequestId();
  const prefix = first.slice(0, first.indexOf("-"));
  assert.match(prefix, /^[0-9a-f]{12}$/);
  let prev = Number.parseInt(first.slice(prefix.length + 1), 36);
  // Over 3 x 1,296 ids plus the first block's plain conversion.
  for (let i = 0; i < 5_000; i++) {
    const id = newRequestId();
    assert.ok(id.startsWith(`${prefix}-`), id);
    const text = id.slice(prefix.length + 1);
    const n = Number.parseInt(text, 36);
    assert.equal(n, prev + 1, `id ${id} after ${prev.toString(36)}`);
    assert.equal(text, n.toString(36), `id ${id} is not canonical base 36`);
    assert.ok(isAcceptableRequestId(id));
    prev = n;
  }
});
