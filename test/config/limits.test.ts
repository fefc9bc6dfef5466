// Config text limits and prototype keys (issue 10, items 4 and 6): an absurdly deep or large
// file is refused before YAML parsing with a clear error, in time linear in its size; quoted
// brackets and comments are not nesting; `__proto__` as a key is an error, not a silent drop.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../config/file/load.js";
import { MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH } from "../../config/file/text-limits.js";

const BASE = `pools:
  users:
    members: [{ id: u1, address: "127.0.0.1:9000" }]
routes:
  - pool: users
    key: [ip]
`;

test("a 150k-deep flow sequence is refused by the depth limit before the YAML parser sees it", () => {
  const n = 150_000;
  const t0 = performance.now();
  const r = parseConfig(`x-deep: ${"[".repeat(n)}${"]".repeat(n)}\n${BASE}`, {});
  const ms = performance.now() - t0;
  assert.equal(r.ok, false);
  assert.match(r.ok ? "" : r.errors[0].message, new RegExp(`deeper than ${MAX_CONFIG_DEPTH} levels`));
  assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms (the parser alone took over 30 s)`);
});

test("nesting up to the limit is accepted; quoted brackets and comments do not count", () => {
  const deepOk = `x-ok: ${"[".repeat(MAX_CONFIG_DEPTH - 1)}${"]".repeat(MAX_CONFIG_DEPTH - 1)}\n`;
  const quoted = `x-q: "${"[".repeat(500)}"\nx-s: '${"{".repeat(500)}'\n# ${"[".repeat(500)}\nx-word: it's [fine]\n`;
  const r = parseConfig(deepOk + quoted + BASE, {});
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const over = `x-over: ${"[".repeat(MAX_CONFIG_DEPTH + 1)}${"]".repeat(MAX_CONFIG_DEPTH + 1)}\n`;
  assert.equal(parseConfig(over + BASE, {}).ok, false);
});

test("a file over the size limit is refused with its size", () => {
  const big = `x-pad: "${"a".repeat(MAX_CONFIG_BYTES)}"\n${BASE}`;
  const r = parseConfig(big, {});
  assert.equal(r.ok, false);
  assert.match(r.ok ? "" : r.errors[0].message, /too large/);
});

test("__proto__ as a key is an error naming its path, never a silently dropped pool", () => {
  const r = parseConfig(BASE.replace("pools:\n", "pools:\n  __proto__: { members: [] }\n"), {});
  assert.equal(r.ok, false);
  const e = r.ok ? undefined : r.errors[0];
  assert.equal(e?.path, "pools.__proto__");
  assert.equal(e?.line, 2);
  // The report prints the path before the message: the message said it again
  // ("pools.__proto__: pools.__proto__: ...").
  assert.equal(e?.message, '"__proto__" is not allowed as a key');
  const nested = parseConfig(BASE.replace("key: [ip]", "key: [ip]\n    __proto__: x"), {});
  assert.equal(nested.ok, false);
  assert.equal(nested.ok ? "" : nested.errors[0].path, "routes[0].__proto__");
});
