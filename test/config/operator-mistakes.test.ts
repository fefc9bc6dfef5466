// An operator's usual mistakes, each through the real `shardgate validate` process: exit 1, one
// line per error in the form `file:line:col: path: message` naming the field, and never a stack
// trace. Two of them were reported without a name: a key given twice in one mapping read
// "(top level): YAML syntax error: Map keys must be unique" (no key, no path), and a directory
// given as the file read "cannot read config file DIR: EISDIR".

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";

const dir = mkdtempSync(join(tmpdir(), "sg-operator-mistakes-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = `listen: { http: 127.0.0.1:18080, admin: 127.0.0.1:19901 }
pools:
  users:
    timeouts: { connect: 1s }
    members:
      - { id: u1, address: 127.0.0.1:9101 }
      - { id: u2, address: 127.0.0.1:9102 }
routes:
  - pool: users
    key: [header:x-user-id]
`;

/** [name, file text, the one error line expected (after "file:")]. */
const CASES: Array<[string, string, RegExp]> = [
  [
    "a key given twice in a mapping",
    GOOD.replace("key: [header:x-user-id]", "key: [header:x-user-id]\n    key: [ip]"),
    /^:11:5: routes\[0\]\.key: duplicate key "key" \(first at line 10\)/,
  ],
  [
    "a key given twice in a flow mapping",
    GOOD.replace("{ id: u2,", "{ id: u2, id: u3,"),
    /^:7:19: pools\.users\.members\[1\]\.id: duplicate key "id" \(first at line 7\)/,
  ],
  [
    "a top-level section given twice",
    `${GOOD}pools: {}\n`,
    /^:11:1: pools: duplicate key "pools" \(first at line 2\)/,
  ],
  [
    "a misspelt key",
    GOOD.replace("timeouts:", "timeout:"),
    /^:4:5: pools\.users\.timeout: unknown key "timeout" \(did you mean "timeouts"\?\)/,
  ],
  ["a route to an unknown pool", GOOD.replace("pool: users", "pool: user"), /^:9:11: routes\[0\]\.pool: /],
  [
    "a duplicate member id",
    GOOD.replace("id: u2", "id: u1"),
    /^:7:15: pools\.users\.members\[1\]\.id: duplicate member id "u1"/,
  ],
  [
    "a duration with a space",
    GOOD.replace("connect: 1s", "connect: 5 s"),
    /^:4:26: pools\.users\.timeouts\.connect: expected a duration/,
  ],
  [
    "a negative duration",
    GOOD.replace("connect: 1s", "connect: -1s"),
    /^:4:26: pools\.users\.timeouts\.connect: expected a duration/,
  ],
  [
    "an absurd duration",
    GOOD.replace("connect: 1s", "connect: 1e9h"),
    /^:4:26: pools\.users\.timeouts\.connect: expected a duration/,
  ],
  [
    "a huge number",
    GOOD.replace("connect: 1s", "connect: 99999999999999999999"),
    /^:4:26: pools\.users\.timeouts\.connect: .*at most 2147483647ms/,
  ],
  [
    "a client half-close mode that is neither abort nor answer",
    GOOD.replace("admin: 127.0.0.1:19901 }", "admin: 127.0.0.1:19901, clientHalfClose: close }"),
    /^:1:75: listen\.clientHalfClose: expected one of "abort", "answer", found "close"$/,
  ],
  [
    "a wrong type",
    GOOD.replace("connect: 1s", "connect: [1]"),
    /^:4:26: pools\.users\.timeouts\.connect: .*found a list of 1 item/,
  ],
];

async function validateText(name: string, text: string) {
  const file = join(dir, `${name.replace(/\W+/g, "-")}.yaml`);
  writeFileSync(file, text);
  return { file, r: await runShardgate(["validate", "--config", file]) };
}

test("the example itself is valid", async () => {
  const { r } = await validateText("good", GOOD);
  assert.equal(r.code, 0, r.stderr);
});

test("validate: each listen.clientHalfClose mode is accepted", async () => {
  for (const mode of ["abort", "answer"]) {
    const text = GOOD.replace(
      "admin: 127.0.0.1:19901 }",
      `admin: 127.0.0.1:19901, clientHalfClose: ${mode} }`,
    );
    assert.notEqual(text, GOOD);
    const { r } = await validateText(`half-close-${mode}`, text);
    assert.equal(r.code, 0, `${mode}: ${r.stderr}`);
  }
});

// Each case is its own validate process on its own file: they run side by side (a node
// start-up each, waited on one after the other they took 9.5 s on CI).
describe("validate: one error per mistake", { concurrency: true }, () => {
  for (const [name, text, expected] of CASES) {
    test(`validate: ${name} is one error naming the field and its line, exit 1`, async () => {
      const { file, r } = await validateText(name, text);
      const what = `exit ${r.code}\n${r.stderr}`;
      assert.equal(r.code, 1, what);
      assert.ok(!/\n\s+at /.test(r.stderr), `a stack trace\n${what}`);
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.at(-1), `${file}: 1 error`, what);
      assert.ok(lines[0].startsWith(file), what);
      assert.match(lines[0].slice(file.length), expected, what);
    });
  }
});

test("validate: a directory given as the config file says so, exit 1", async () => {
  const folder = join(dir, "a-folder.yaml");
  mkdirSync(folder);
  const r = await runShardgate(["validate", "--config", folder]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(
    r.stderr.split("\n")[0],
    `${folder}: (top level): cannot read config file ${folder}: not a regular file (a directory) (ENOTREG)`,
  );
});
