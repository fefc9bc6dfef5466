// An operator points --data-dir somewhere that holds no files. Tried from the outside,
// `--data-dir /proc/x` hung `start` for ever (Node's recursive mkdir loops on procfs), and a
// file given as the directory came back as a raw errno from deep inside the Raft node. Start
// and validate must fail fast with a coded error naming the path; a good path still starts.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";
import { oneMemberConfig } from "../support/minimal-config.js";
import { ShardgateChild } from "../support/shardgate-process.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-data-dir-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const config = join(dir, "shardgate.yaml");
writeFileSync(config, oneMemberConfig());
const aFile = join(dir, "not-a-dir");
writeFileSync(aFile, "x");

/** Far above a fast failure on a loaded machine; the old code never finished. */
const BOUND_MS = 40_000;

const cases: Array<{ name: string; dataDir: string; code: string; skip?: boolean }> = [
  {
    name: "under /proc",
    dataDir: "/proc/shardgate-data",
    code: "data_dir_pseudo_fs",
    skip: !existsSync("/proc/self"),
  },
  {
    name: "under /sys",
    dataDir: "/sys/kernel/shardgate-data",
    code: "data_dir_pseudo_fs",
    skip: !existsSync("/sys/kernel"),
  },
  { name: "a regular file", dataDir: aFile, code: "data_dir_not_directory" },
  { name: "below a regular file", dataDir: join(aFile, "sub"), code: "data_dir_not_directory" },
];

for (const c of cases) {
  for (const command of ["start", "validate"]) {
    test(`${command} --data-dir ${c.name}: fails fast with ${c.code} naming the path`, {
      skip: c.skip,
      timeout: 60_000,
    }, async () => {
      const r = await runShardgate([command, "--config", config, "--data-dir", c.dataDir], {}, BOUND_MS);
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`${c.code}: data directory ${c.dataDir.replace(/[/.]/g, "\\$&")}`),
        r.stderr,
      );
    });
  }
}

test("start --data-dir three missing levels deep: made, one level at a time, and serving", {
  timeout: 60_000,
}, async () => {
  const deep = join(dir, "a", "b", "c");
  const child = new ShardgateChild(["start", "--config", config, "--data-dir", deep]);
  try {
    await child.waitForLine("the listening line", (l) => l.msg === "listening", 45_000);
    assert.equal(statSync(deep).isDirectory(), true);
  } finally {
    await child.stop();
  }
});

test("a second start on a data directory in use is refused with data_dir_locked; after kill -9 it starts", {
  timeout: 120_000,
}, async () => {
  const data = join(dir, "shared");
  const first = new ShardgateChild(["start", "--config", config, "--data-dir", data]);
  try {
    await first.waitForLine("the first instance's listening line", (l) => l.msg === "listening", 45_000);
    const second = await runShardgate(["start", "--config", config, "--data-dir", data], {}, BOUND_MS);
    assert.equal(second.code, 1, `${second.stdout}\n${second.stderr}`);
    assert.match(
      second.stderr,
      /data_dir_locked: data directory .*shared: in use by process \d+/,
      second.stderr,
    );
    assert.equal(first.exit, undefined, "the first instance keeps running");
  } finally {
    first.child.kill("SIGKILL");
    await first.waitFor("the first instance's exit", () => first.exit, 30_000);
  }
  // Its lock is stale now (its process is gone): the next start takes it over.
  const again = new ShardgateChild(["start", "--config", config, "--data-dir", data]);
  try {
    await again.waitForLine("the restarted instance's listening line", (l) => l.msg === "listening", 45_000);
  } finally {
    await again.stop();
  }
  assert.equal(existsSync(join(data, "LOCK")), false, "a clean stop removes the lock");
});
