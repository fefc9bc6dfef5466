// SHARDGATE_FILE_SETTLE_MS / SHARDGATE_FILE_SETTLE_MAX_MS (how long a reloaded file must hold
// still, and the bound: README "Files written in place") are checked with the other SHARDGATE_*
// switches: a value that is not a whole number of milliseconds ("100ms", "-1", "fast"), or a
// bound below the settle period, stops validate and start with exit 1 naming the variable,
// instead of being read as the default without a word.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";
import { oneMemberConfig } from "../support/minimal-config.js";

const dir = mkdtempSync(join(tmpdir(), "sg-settle-env-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, "shardgate.yaml");
writeFileSync(file, oneMemberConfig());

test("a settle variable that is not whole milliseconds, or a bound below the period: exit 1 naming it", {
  timeout: 180_000,
}, async () => {
  const bad: Array<[Record<string, string>, string]> = [
    [
      { SHARDGATE_FILE_SETTLE_MS: "100ms" },
      'SHARDGATE_FILE_SETTLE_MS: expected a whole number of milliseconds, got "100ms"',
    ],
    [
      { SHARDGATE_FILE_SETTLE_MAX_MS: "-1" },
      'SHARDGATE_FILE_SETTLE_MAX_MS: expected a whole number of milliseconds, got "-1"',
    ],
    [
      { SHARDGATE_FILE_SETTLE_MS: "500", SHARDGATE_FILE_SETTLE_MAX_MS: "200" },
      "SHARDGATE_FILE_SETTLE_MAX_MS: must be at least SHARDGATE_FILE_SETTLE_MS (500), got 200",
    ],
  ];
  for (const [env, expected] of bad) {
    for (const cmd of ["validate", "start"]) {
      const r = await runShardgate([cmd, "--config", file], env);
      const what = `${cmd} ${JSON.stringify(env)}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
      assert.equal(r.code, 1, what);
      assert.ok(r.stderr.includes(expected), what);
      assert.ok(!r.stdout.includes('"msg":"listening"'), `start did not serve: ${what}`);
    }
  }
  const good: Array<Record<string, string>> = [
    { SHARDGATE_FILE_SETTLE_MS: "0" },
    { SHARDGATE_FILE_SETTLE_MS: "250", SHARDGATE_FILE_SETTLE_MAX_MS: "5000" },
  ];
  for (const env of good) {
    const r = await runShardgate(["validate", "--config", file], env);
    assert.equal(r.code, 0, `${JSON.stringify(env)}: ${r.stderr}`);
  }
});
