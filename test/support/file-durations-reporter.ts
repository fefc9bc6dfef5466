// A node:test reporter that prints the test files that took longest: for each file, the sum of
// its top-level tests' and suites' durations (file-level before/after hooks are not in them),
// slowest first, after the run. Used beside the usual reporter to find where the suite's time
// goes, e.g.
//   node --test --test-concurrency=2 --test-reporter=spec --test-reporter-destination=stdout \
//     --test-reporter=./dist/test/support/file-durations-reporter.js \
//     --test-reporter-destination=slowest.txt $(find dist/test -name "*.test.js" | sort)
// SLOWEST_FILES (default 15) says how many lines it prints.

import path from "node:path";

interface TestEventData {
  file?: string;
  nesting?: number;
  details?: { duration_ms?: number };
}

interface TestEvent {
  type: string;
  data?: TestEventData;
}

export default async function* fileDurations(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const perFile = new Map<string, { ms: number; tests: number; failed: number }>();
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const d = event.data;
    if (d?.nesting !== 0 || d.file === undefined) continue;
    const row = perFile.get(d.file) ?? { ms: 0, tests: 0, failed: 0 };
    row.ms += d.details?.duration_ms ?? 0;
    row.tests++;
    if (event.type === "test:fail") row.failed++;
    perFile.set(d.file, row);
  }
  const wanted = Number(process.env.SLOWEST_FILES ?? "15");
  const rows = [...perFile.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((s, [, r]) => s + r.ms, 0);
  yield `${rows.length} test files, top-level tests summed: ${(total / 1000).toFixed(1)} s; slowest ${Math.min(wanted, rows.length)}:\n`;
  for (const [file, r] of rows.slice(0, wanted)) {
    const failed = r.failed > 0 ? `, ${r.failed} failed` : "";
    yield `${(r.ms / 1000).toFixed(1).padStart(8)} s  ${String(r.tests).padStart(3)} top-level${failed}  ${relative(file)}\n`;
  }
}

function relative(file: string): string {
  const r = path.relative(process.cwd(), file);
  return r.startsWith("..") ? file : r;
}
