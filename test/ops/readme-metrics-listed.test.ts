// The README's "Metrics" list against the metric families the code registers. Every
// `shardgate_*` name in proxy/, health/ and config/ must be named somewhere in the README (the
// list, or the section that explains it), and every metric the list names must be one the code
// registers. Found by it: `ring_member_points_max` was written `_max{pool}` only. The scrape
// side (each family on /metrics, `promtool check metrics` clean) is test/ops/promtool-lint.test.ts.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** Metric names written as string literals in the source of the rooms that register them. */
function codeMetricNames(): Set<string> {
  const names = new Set<string>();
  for (const room of ["proxy", "health", "config"]) {
    for (const f of readdirSync(join(ROOT, room), { recursive: true, encoding: "utf8" })) {
      if (!f.endsWith(".ts")) continue;
      const text = readFileSync(join(ROOT, room, f), "utf8");
      for (const m of text.matchAll(/["'`]shardgate_([a-z_]+)["'`]/g)) names.add(m[1]);
    }
  }
  return names;
}

/** The metrics the README's list paragraph names (`name` or `name{labels}`, prefix left off). */
function listedMetricNames(): Set<string> {
  // Found by words, not by line: a paragraph re-wrapped (a line break where a space was) is
  // the same paragraph.
  const start = README.search(/Prefix `shardgate_`;\s+labels\s+are/);
  const end = start < 0 ? -1 : start + README.slice(start).search(/`member="none"`\s+means/);
  assert.ok(start > 0 && end > start, "README.md: the Metrics list paragraph is gone");
  const names = new Set<string>();
  // Label values (`upstream_connect`, `index_reset`) are backticked too: a metric has labels
  // written after it or a metric's suffix.
  const SUFFIX =
    /_(total|seconds|bytes|ratio|state|info|entries|level|points|version|errors|flight|healthy|draining|min|max)$/;
  for (const m of README.slice(start, end).matchAll(/`([a-z][a-z_]*)(\{[a-z_,]*\})?`/g)) {
    if (m[2] !== undefined || SUFFIX.test(m[1])) names.add(m[1]);
  }
  return names;
}

test("every metric the code registers is named in the README", () => {
  const code = codeMetricNames();
  assert.ok(code.size > 40, `found only ${code.size} metric names in the source`);
  const unnamed = [...code].filter((n) => !new RegExp(`\`(shardgate_)?${n}[\`{]`).test(README)).sort();
  assert.deepEqual(unnamed, [], "metrics the README never names");
});

test("every metric the README's list names is registered by the code", () => {
  const code = codeMetricNames();
  const listed = listedMetricNames();
  assert.ok(listed.size > 40, `read only ${listed.size} metric names from the README's list`);
  assert.deepEqual([...listed].filter((n) => !code.has(n)).sort(), [], "listed, but no such metric");
});
