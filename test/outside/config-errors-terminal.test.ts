// A config file's errors and warnings go to the operator's terminal (`validate`, `start`), and
// they quote the file: an unknown key, a route's undefined pool, a path prefix. A key holding
// an ESC sequence (an OSC retitling the window, a CSI clearing the screen), a C1 CSI, a bidi
// override, or a CR or LF reached the terminal as is: it could drive the terminal, hide text or
// forge an error line of its own. And a 1 MB pool name made a 1 MB error line. Each is shown as an
// escape (`\x1b`, `\u202e`) on its own error's line, and a line is cut at a bound.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { shardgateArgv } from "../support/shardgate-process.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-config-terminal-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every control character but LF, DEL and C1, and the bidi/zero-width marks a terminal obeys. */
const DRIVES_TERMINAL =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u;
const LONG_NAME = "k".repeat(1_000_000);
const LISTEN = "listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }\n";

/** Each hostile key once, as YAML double-quoted escapes; the last forges a line of its own. */
const HOSTILE_FILE = `${LISTEN}pools:
  p:
    members: [{ id: m1, address: "127.0.0.1:9" }]
    "algo\\e]0;owned\\arithm": ring
    "screen\\e[2J\\e[H": x
    "csi\\u009b31m": x
    "bidi\\u202etxt.exe": x
    "back\\rCR": x
    "forged\\nc.yaml:1:1: all good": x
routes:
  - { pool: "p\\e[1m", key: [header:x-k] }
  - { pool: ${LONG_NAME}, key: [header:x-k], match: { pathPrefix: /long } }
`;

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const argv = shardgateArgv(args);
  return new Promise((resolve) => {
    execFile(
      argv.command,
      argv.args,
      { encoding: "utf8", timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The first character of `text` that drives a terminal, described, or null. */
function drivingChar(text: string): string | null {
  const m = DRIVES_TERMINAL.exec(text);
  if (m === null) return null;
  const at = m.index;
  return `U+${m[0].charCodeAt(0).toString(16).padStart(4, "0")} at ${at}: ${JSON.stringify(text.slice(Math.max(0, at - 40), at + 20))}`;
}

/** The lines of `out` too long to read, described. */
function longLines(out: string): string[] {
  return out
    .split("\n")
    .filter((l) => l.length > 4000)
    .map((l) => `${l.slice(0, 60)}... (${l.length} characters)`);
}

describe("config errors and warnings reach the terminal as text", () => {
  for (const command of ["validate", "start"]) {
    test(`${command}: hostile keys are escaped, each error keeps its own line`, async () => {
      const file = join(dir, `hostile-${command}.yaml`);
      writeFileSync(file, HOSTILE_FILE);
      const r = await run([command, "--config", file]);
      assert.equal(r.code, 1, `an invalid file exits 1\n${r.stderr.slice(0, 2000)}`);
      assert.equal(drivingChar(r.stderr), null, "no character that drives a terminal");
      assert.deepEqual(longLines(r.stderr), [], "no line past 4,000 characters");
      const lines = r.stderr.trimEnd().split("\n");
      // Every line is one error (file:line:col: ...) or the closing count, none forged.
      for (const line of lines)
        assert.ok(line.startsWith(`${file}:`), `a line of its own: ${line.slice(0, 200)}`);
      assert.match(r.stderr, /unknown key "algo\\x1b\]0;owned\\x07rithm"/);
      assert.match(r.stderr, /unknown key "forged\\x0ac\.yaml:1:1: all good"/);
      assert.match(r.stderr, /route uses undefined pool "p\\x1b\[1m"/);
      assert.match(r.stderr, /\.\.\.\(\d+ more\)/, "the 1 MB pool name's line is cut");
    });
  }

  test("validate: a warning quoting a path prefix is escaped", async () => {
    const file = join(dir, "hint.yaml");
    writeFileSync(
      file,
      `${LISTEN}pools:\n  p:\n    members: [{ id: m1, address: "127.0.0.1:9" }]\nroutes:\n  - { pool: p, key: [header:x-k], match: { pathPrefix: "/pkg.Svc/\\e]0;owned\\a" } }\n`,
    );
    const r = await run(["validate", "--config", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*pathPrefix "\/pkg\.Svc\/\\x1b\]0;owned\\x07"/);
    assert.equal(drivingChar(r.stderr), null, "no character that drives a terminal");
  });
});
