// Every code a room below the HTTP layer can throw is listed in the README's error-code
// tables, so an operator who sees one in a status or a CLI message can look it up.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { WATCHER_ERROR_CODES } from "../../health/watch-loop.js";
import { RING_CONFIG_ERROR_CODES } from "../../ring/ring-error.js";

test("ring and discovery-watcher codes are each documented in the README", () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const missing = [...RING_CONFIG_ERROR_CODES, ...WATCHER_ERROR_CODES].filter(
    (code) => !readme.includes(`| \`${code}\` |`),
  );
  assert.deepEqual(missing, [], "codes without a README table row");
});
