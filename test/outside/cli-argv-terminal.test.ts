// A value given on the command line comes back in the CLI's error when it is refused (an
// unknown command, a `ring simulate --algorithm`, a `ctl --admin` URL, an unknown flag), and
// scripts pass values from elsewhere (a member id from a log, a URL from an inventory). The
// value went out raw: an ESC sequence drove the terminal, a LF forged a line and a 100,000
// character value made a line as long. Each is shown escaped on the error's own line, cut.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, test } from "node:test";
import { shardgateArgv } from "../support/shardgate-process.js";

const DRIVES_TERMINAL =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u;
/** OSC title, CSI clear screen, a C1 CSI, a bidi override, CR and a LF forging a line. */
const HOSTILE = "v\u001b]0;owned\u0007\u001b[2J\u009b31m\u202etxt\rCR\nshardgate: all good";
const LONG = "x".repeat(100_000);

function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const argv = shardgateArgv(args);
  return new Promise((resolve) => {
    execFile(argv.command, argv.args, { encoding: "utf8", timeout: 60_000 }, (err, _stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
      resolve({ code, stderr });
    });
  });
}

const CASES: Array<{ name: string; args: (v: string) => string[] }> = [
  { name: "an unknown command", args: (v) => [v] },
  { name: "ring: an unknown subcommand", args: (v) => ["ring", v] },
  { name: "ring simulate --algorithm", args: (v) => ["ring", "simulate", "--algorithm", v] },
  { name: "ring simulate --members", args: (v) => ["ring", "simulate", "--members", v] },
  { name: "validate: an unknown flag", args: (v) => ["validate", `--${v}`] },
  { name: "ctl: an unknown command", args: (v) => ["ctl", v] },
  { name: "ctl --admin", args: (v) => ["ctl", "--admin", `http://${v}`, "state"] },
  { name: "ctl --timeout", args: (v) => ["ctl", "--timeout", v, "state"] },
  { name: "ctl breaker mode", args: (v) => ["ctl", "breaker", "p", "m", v] },
];

describe("a refused command-line value comes back as text", () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const hostile = await run(c.args(HOSTILE));
      assert.equal(hostile.code, 2, `a usage error exits 2\n${hostile.stderr.slice(0, 500)}`);
      const first = hostile.stderr.split("\n")[0];
      assert.ok(first.startsWith("shardgate"), `the error's line: ${first}`);
      assert.ok(first.includes("\\x1b]0;owned\\x07"), `the value escaped on the error's line: ${first}`);
      assert.ok(!hostile.stderr.includes("\nshardgate: all good"), "no forged line");
      const m = DRIVES_TERMINAL.exec(hostile.stderr);
      assert.equal(m, null, m === null ? "" : `U+${m[0].charCodeAt(0).toString(16)} reached the terminal`);
      // (a long host is a URL `ctl` tries: it exits 1, unreachable, and names it)
      const long = await run(c.args(LONG));
      assert.ok(long.code === 2 || long.code === 1, `exit ${long.code}`);
      const longest = Math.max(...long.stderr.split("\n").map((l) => l.length));
      assert.ok(longest <= 4000, `the longest line is ${longest} characters`);
    });
  }
});
