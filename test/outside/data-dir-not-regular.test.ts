// A FIFO in the data directory under one of the names shardgate reads at start (identity.json,
// a log segment, a snapshot): found on a real process, readFileSync blocked in open(2) on the
// main thread, `start` printed nothing and hung for good, SIGTERM included (its handler never
// ran). Now the data directory's files are opened without blocking and checked
// (config/raft/storage/storage-fs.ts): start exits 1 at once naming the file.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";

const dir = mkdtempSync(join(tmpdir(), "sg-datadir-fifo-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const NAMES = [
  "identity.json",
  "wal-0000000002-0000000000000002.log",
  "snap-0000000000000001-0000000000000001.snap",
];

for (const name of NAMES) {
  test(`start with a FIFO named ${name} in the data directory exits 1 naming it`, async () => {
    const base = join(dir, name);
    mkdirSync(join(base, "state"), { recursive: true });
    execFileSync("mkfifo", [join(base, "state", name)]);
    const config = join(base, "c.yaml");
    writeFileSync(
      config,
      `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
cluster: { id: n1, dataDir: state }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:9" }]
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`,
    );
    // runShardgate kills the child and rejects if it has not exited by then (scaled; the old hang).
    const r = await runShardgate(["start", "--config", config], {}, 30_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${name.replace(/\./g, "\\.")}: not a regular file \\(a FIFO\\)`));
  });
}
