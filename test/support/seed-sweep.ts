// `node dist/test/support/seed-sweep.js [--seeds N | --seed-list a,b,c] [--first S]
//   [--budget-s SECONDS] [dir ...]`: runs every seeded test file (one that takes its seed from
// test/support/prng.ts) under the given dist/test directories (default dist/test/ring and
// dist/test/proxy) once per seed, with TEST_SEED set, and prints one line per seed and the
// failing files with their replay command. Seeds are drawn from --first (default: the clock,
// printed) so a sweep itself replays. Bounded: at most 50 seeds, and no new seed starts after
// --budget-s (default 1800). Exits 1 when any seed failed. Run after `npm run build`.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseSeed, seededRandom } from "./prng.js";

const MAX_SEEDS = 50;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function fail(message: string): never {
  process.stderr.write(`seed-sweep: ${message}\n`);
  process.exit(2);
}

/** The *.test.js files under `dir` (recursively) that import the shared seed helper. */
function seededFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...seededFiles(path));
    else if (e.name.endsWith(".test.js") && /support\/prng\.js"/.test(readFileSync(path, "utf8")))
      out.push(path);
  }
  return out.sort();
}

const flags = new Set(["--seeds", "--seed-list", "--first", "--budget-s"]);
const dirs = process.argv.slice(2).filter((a, i, all) => !a.startsWith("--") && !flags.has(all[i - 1]));
const files = (dirs.length > 0 ? dirs : ["dist/test/ring", "dist/test/proxy"]).flatMap(seededFiles);
if (files.length === 0) fail("no seeded test files found (run `npm run build` first)");

const count = Number(arg("--seeds") ?? 20);
if (!Number.isInteger(count) || count < 1 || count > MAX_SEEDS) fail(`--seeds must be 1..${MAX_SEEDS}`);
const budgetS = Number(arg("--budget-s") ?? 1800);
if (!Number.isFinite(budgetS) || budgetS <= 0) fail("--budget-s must be a positive number of seconds");
const first = parseSeed("--first", arg("--first") ?? String(Date.now() % 1_000_000)) ?? 0;
const list = arg("--seed-list");
const seeds = list
  ? list.split(",").map((s) => parseSeed("--seed-list entry", s) ?? 0)
  : (() => {
      const rnd = seededRandom(first);
      return Array.from({ length: count }, () => Math.floor(rnd() * 0x1_0000_0000));
    })();
if (seeds.length > MAX_SEEDS) fail(`at most ${MAX_SEEDS} seeds`);

process.stdout.write(
  `seed-sweep: ${files.length} seeded files, ${seeds.length} seeds` +
    (list ? "" : ` drawn from --first ${first}`) +
    `, budget ${budgetS} s\n`,
);
const started = Date.now();
const failed: { seed: number; tests: string[] }[] = [];
let ran = 0;
let logs: string | undefined;
for (const seed of seeds) {
  if (Date.now() - started > budgetS * 1000) {
    process.stdout.write(`budget spent: ${seeds.length - ran} seeds not run\n`);
    break;
  }
  const t0 = Date.now();
  const r = spawnSync(
    process.execPath,
    ["--test", "--test-concurrency=3", "--test-timeout=120000", "--test-reporter=tap", ...files],
    { env: { ...process.env, TEST_SEED: String(seed) }, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 },
  );
  ran++;
  const out = `${r.stdout}\n${r.stderr}`;
  const tests = [...out.matchAll(/^ {0,4}not ok \d+ - (.*)$/gm)].map((m) => m[1]);
  const notes = [...out.matchAll(/this file failed with (seed=.*)$/gm)].map((m) => m[1]);
  const ok = r.status === 0;
  process.stdout.write(
    `seed ${String(seed).padStart(10)}  ${ok ? "pass" : "FAIL"}  ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
  );
  if (!ok) {
    for (const t of tests) process.stdout.write(`    not ok: ${t}\n`);
    for (const n of new Set(notes)) process.stdout.write(`    ${n}\n`);
    logs ??= mkdtempSync(join(tmpdir(), "seed-sweep-"));
    const log = join(logs, `seed-${seed}.tap`);
    writeFileSync(log, out);
    process.stdout.write(`    full output: ${log}\n`);
    failed.push({ seed, tests });
  }
}
process.stdout.write(
  `seed-sweep: ${ran - failed.length}/${ran} seeds passed in ${((Date.now() - started) / 1000).toFixed(0)} s` +
    (failed.length > 0 ? `; failed: ${failed.map((f) => f.seed).join(", ")}` : "") +
    "\n",
);
process.exit(failed.length > 0 || ran < seeds.length ? 1 : 0);
