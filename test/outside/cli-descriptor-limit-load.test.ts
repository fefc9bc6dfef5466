// shardgate started under a descriptor limit too low to load it, tried from the outside: `start`
// and `validate` run under `prlimit --nofile=N:N` (soft and hard: Node raises a soft limit
// to the hard one as it boots). Node's module loader opens a command's files many at a time, and
// at a limit of 100 each died in the loader with `shardgate: Error: EMFILE: too many open files,
// open '.../proxy/server/overload-gate.js'` and its stack trace, exit 1, as if a file of ours
// were broken (or, some runs, `Cannot find package '.../node_modules/pino/index.js'`: the
// resolver's refused open reported as a missing dependency). Now each says in one line that the descriptor limit is too low and how to raise
// it, with the limit in force. The limit is drawn (seeded) from a range where loading fails.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fdLimitUnavailable } from "../support/fd-limit.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { poolConfig, shardgateArgv } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const seed = testSeed(20_261_211);
const note = seedNote(seed);
const dir = mkdtempSync(join(tmpdir(), "sg-fd-load-"));

after(() => rmSync(dir, { recursive: true, force: true }));

test("a descriptor limit too low to load shardgate is named, not a loader stack trace", {
  skip: fdLimitUnavailable() ?? false,
}, () => {
  const limit = 40 + Math.floor(seededRandom(seed)() * 41);
  const config = join(dir, "shardgate.yaml");
  writeFileSync(config, poolConfig({ members: [{ id: "m1", port: 9 }] }));
  for (const args of [
    ["validate", "--config", config],
    ["start", "--config", config],
  ]) {
    const argv = shardgateArgv(args);
    const r = spawnSync("prlimit", [`--nofile=${limit}:${limit}`, argv.command, ...argv.args], {
      encoding: "utf8",
      timeout: scaled(30_000),
      killSignal: "SIGKILL",
    });
    const said = `shardgate ${args[0]} at a limit of ${limit}: exit ${r.status}\n${r.stdout}\n${r.stderr}\n${note}`;
    assert.equal(r.status, 1, said);
    assert.match(r.stderr, new RegExp(`descriptor limit \\(${limit} here\\) is too low`), said);
    assert.match(r.stderr, /ulimit -n/, said);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace\n${said}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line\n${said}`);
  }
});
