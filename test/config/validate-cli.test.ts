// `shardgate validate` end to end: a real child process per case.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { type CtlRun as Run, runShardgate } from "../support/ctl-runner.js";
import { MINIMAL } from "./fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "sg-validate-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function validate(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runShardgate(["validate", ...args], env);
}

test("validate: a good file prints the summary and exits 0", async () => {
  const path = join(dir, "minimal.yaml");
  writeFileSync(path, MINIMAL);
  const r = await validate(["--config", path]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), "ok: 1 pools, 1 routes");
});

test("validate: a bad file prints every error with its line to stderr and exits 1", async () => {
  const path = join(dir, "bad.yaml");
  writeFileSync(
    path,
    `pools:
  users:
    members:
      - { id: u1, address: "127.0.0.1:9101", weigth: 2 }
      - { id: u2, address: "\${U2_ADDR}" }
routes:
  - pool: user
    key: [header:x-user-id]
`,
  );
  const r = await validate(["--config", path]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trim().split("\n");
  assert.deepEqual(lines, [
    `${path}:4:46: pools.users.members[0].weigth: unknown key "weigth" (did you mean "weight"?); expected one of the keys id, address, weight`,
    `${path}:5:28: pools.users.members[1].address: expected an address "host:port" (IPv6 in brackets: "[::1]:8080"), port 1-65535, found "" (environment variable U2_ADDR is not set)`,
    `${path}:7:11: routes[0].pool: route uses undefined pool "user" (did you mean "users"?)`,
    `${path}: 3 errors`,
  ]);
});

test("validate: a missing file exits 1 with a clear message", async () => {
  const r = await validate(["--config", join(dir, "absent.yaml")]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read config file .*absent\.yaml: no such file/);
});

test("validate: usage errors exit 2", async () => {
  for (const args of [[], ["--config"], ["--bogus", "x"], ["positional"]]) {
    const r = await validate(args);
    assert.equal(r.code, 2, `${JSON.stringify(args)}: ${r.stderr}`);
    assert.match(r.stderr, /usage: shardgate validate --config FILE/);
  }
});
