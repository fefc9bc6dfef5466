// `shardgate ring simulate`: argument parsing and the simulation in-process, and the real
// CLI as a child process (--json parsed, bad flags exit 2 with a clear message).

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parseSimulateArgs, simulate, sizeHint } from "../../proxy/commands/ring.js";
import { UsageError } from "../../proxy/commands/usage-error.js";
import { seedNote, testSeed } from "../support/prng.js";
import { shardgateArgv } from "../support/shardgate-process.js";

const SEED = testSeed(7);

function shardgate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = shardgateArgv(args);
  return new Promise((resolve) => {
    execFile(argv.command, argv.args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The field names README.md gives for `ring simulate --json` (its "`--json` prints one object" line). */
function readmeJsonFields(): Set<string> {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  // Any whitespace between the words: a re-wrapped sentence is the same sentence.
  const m = /`--json`\s+prints\s+one\s+object:\s+`(\{[^`]*\})`/.exec(readme);
  assert.ok(m !== null, "README.md: the `ring simulate --json` sentence is gone");
  return new Set(m[1].match(/[A-Za-z]+(?=[,:}\]])/g) ?? []);
}

/** Every key of `v`, nested ones too (arrays by their first element). */
function keysOf(v: unknown, out = new Set<string>()): Set<string> {
  const o = Array.isArray(v) ? v[0] : v;
  if (o === null || typeof o !== "object") return out;
  for (const [k, x] of Object.entries(o)) {
    out.add(k);
    keysOf(x, out);
  }
  return out;
}

describe("ring simulate (process)", () => {
  // The README listed {algorithm, members, keys, seed, load, perMember, moved: {fraction, ideal,
  // ratio}}; the output also had points / tableSize, balanceFactor, unboundedLoad and
  // moved.change / membersAfter.
  it("--json prints the fields the README lists, and no others", async () => {
    const runs = await Promise.all(
      [
        ["--add", "1"],
        ["--algorithm", "maglev", "--remove", "1"],
        ["--balance-factor", "1.25"],
      ].map((extra) =>
        shardgate(["ring", "simulate", "--members", "4", "--keys", "200", "--json", ...extra]),
      ),
    );
    const seen = new Set<string>();
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      for (const k of keysOf(JSON.parse(r.stdout))) seen.add(k);
    }
    const documented = readmeJsonFields();
    assert.deepEqual([...seen].filter((k) => !documented.has(k)).sort(), [], "printed, not in the README");
    assert.deepEqual([...documented].filter((k) => !seen.has(k)).sort(), [], "in the README, never printed");
  });

  it("--json prints one object with load and moved", async () => {
    const r = await shardgate([
      "ring",
      "simulate",
      "--members",
      "10",
      "--keys",
      "20000",
      "--add",
      "1",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.algorithm, "ring");
    assert.equal(out.members, 10);
    assert.equal(out.keys, 20000);
    for (const k of ["min", "mean", "max", "stddev", "maxOverMean"])
      assert.equal(typeof out.load[k], "number", k);
    assert.equal(out.load.mean, 2000);
    assert.ok(out.load.min <= out.load.mean && out.load.mean <= out.load.max);
    assert.ok(Math.abs(out.moved.ideal - 1 / 11) < 1e-9);
    assert.ok(out.moved.fraction > 0 && out.moved.fraction < 0.2, String(out.moved.fraction));
    assert.ok(Math.abs(out.moved.ratio - out.moved.fraction / out.moved.ideal) < 1e-9);
    assert.equal(
      out.perMember.reduce((s: number, m: { keys: number }) => s + m.keys, 0),
      20000,
    );
  });

  it("prints a readable table by default", async () => {
    const r = await shardgate([
      "ring",
      "simulate",
      "--algorithm",
      "maglev",
      "--members",
      "3",
      "--keys",
      "3000",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /maglev: 3 members, 3000 keys, table-size=65537/);
    assert.match(r.stdout, /max\/mean/);
    assert.match(r.stdout, /^ {2}m2 +weight +1 /m);
  });

  it("exits 2 with a clear message on an unknown flag or invalid value", async () => {
    const unknown = await shardgate(["ring", "simulate", "--bogus"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown option '--bogus'/);
    const bad = await shardgate(["ring", "simulate", "--algorithm", "maglev", "--table-size", "65536"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /tableSize must be prime, got 65536/);
  });
});

describe("ring simulate (in-process)", () => {
  it("rejects invalid arguments with UsageError", () => {
    const bad: [string[], RegExp][] = [
      [[], /missing subcommand/],
      [["frobnicate"], /unknown subcommand "frobnicate"/],
      [["simulate", "--members", "0"], /--members must be an integer in \[1, 100000\], got "0"/],
      [["simulate", "--members", "abc"], /--members must be an integer/],
      [["simulate", "--keys", "1.5"], /--keys must be an integer/],
      [["simulate", "--algorithm", "rendezvous"], /--algorithm must be "ring" or "maglev"/],
      [["simulate", "--members", "10", "--weights", "1,2"], /--weights has 2 entries but --members is 10/],
      [["simulate", "--members", "2", "--weights", "1,0"], /--weights\[1\] must be an integer/],
      [["simulate", "--add", "1", "--remove", "1"], /use --add or --remove, not both/],
      [["simulate", "--members", "3", "--remove", "3"], /--remove must be an integer in \[1, 2\]/],
      [["simulate", "--balance-factor", "0.9"], /--balance-factor must be a number >= 1.0/],
      [["simulate", "--balance-factor", "x"], /--balance-factor must be a number >= 1.0/],
      [["simulate", "--points", "10", "--algorithm", "maglev"], /--points applies to --algorithm ring/],
      [["simulate", "--members"], /argument missing|requires an argument|--members/],
    ];
    for (const [argv, message] of bad) {
      assert.throws(
        () => parseSimulateArgs(argv),
        (e: unknown) => e instanceof UsageError && message.test(e.message),
        argv.join(" "),
      );
    }
  });

  it("is reproducible for a seed and reports removal movement exactly for ring hash", () => {
    const o = parseSimulateArgs([
      "simulate",
      "--members",
      "8",
      "--keys",
      "20000",
      "--remove",
      "1",
      "--seed",
      String(SEED),
    ]);
    const a = simulate(o);
    assert.deepEqual(simulate(o), a, seedNote(SEED));
    // Ring hash moves exactly the removed member's keys (m7 is the last one).
    const m7 = a.perMember.find((m) => m.id === "m7");
    assert.ok(m7 !== undefined && a.moved !== undefined, seedNote(SEED));
    assert.equal(a.moved.fraction, m7.keys / 20000, seedNote(SEED));
    assert.ok(Math.abs(a.moved.ideal - 1 / 8) < 1e-12);
  });

  it("--weights alone sets the member count and each member's weight", () => {
    const o = parseSimulateArgs(["simulate", "--weights", "1,1,2", "--keys", "30000"]);
    assert.equal(o.members, 3);
    const r = simulate(o);
    assert.deepEqual(
      r.perMember.map((m) => [m.id, m.weight]),
      [
        ["m0", 1],
        ["m1", 1],
        ["m2", 2],
      ],
    );
    assert.ok(r.loadPerWeight !== undefined, "unequal weights report per-weight load");
  });

  it("bounded load keeps max/mean within the factor", () => {
    const r = simulate(
      parseSimulateArgs(["simulate", "--members", "10", "--keys", "20000", "--balance-factor", "1.05"]),
    );
    assert.ok(r.unboundedLoad !== undefined);
    assert.ok(r.load.maxOverMean <= 1.05 + 1e-9, `max/mean ${r.load.maxOverMean}`);
    assert.ok(r.unboundedLoad.maxOverMean > r.load.maxOverMean);
    assert.equal(r.algorithm, "bounded-load/ring");
  });
});

describe("ring simulate: which table suits a big pool", () => {
  it("a ring above 2,000 members gets a Maglev hint with a table size of 100 x members; small pools none", () => {
    const big = sizeHint({ algorithm: "ring", members: 10_000, points: 160 });
    assert.ok(big !== null && /--algorithm maglev/.test(big) && /1000000/.test(big), String(big));
    assert.equal(sizeHint({ algorithm: "ring", members: 100, points: 160 }), null);
    assert.equal(sizeHint({ algorithm: "maglev", members: 10_000, tableSize: 1_000_003 }), null);
    const small = sizeHint({ algorithm: "maglev", members: 10_000, tableSize: 65537 });
    assert.ok(small !== null && /under 100 x members/.test(small), String(small));
  });
});
