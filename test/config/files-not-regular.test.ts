// The config file and ctl's keys file when the path is not what it seems: a device that never
// ends, a directory, a symlink loop, a sparse file of 2 GiB. Found: readFile read /dev/zero up
// to Node's 2 GiB limit (650 MB of memory, 4 s; /dev/urandom 1.2 GB, 22 s) and then said just
// "cannot read config file /dev/zero: error"; a 100 MB file was read whole before its size was
// refused; a symlink loop said only "ELOOP"; ctl's keys file given a folder said "EISDIR: illegal
// operation on a directory". Now one bounded reader (config/file/bounded-read.ts) opens without
// blocking, refuses what is not a regular file or is over the bound, and says so naming the file.
// (A config FIFO stays allowed on purpose: read-text.ts; a FIFO for a certificate: test/outside.)

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadConfigFile } from "../../config/file/load.js";
import { runShardgate } from "../support/ctl-runner.js";
import { scaled } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "sg-files-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const folder = join(dir, "a-folder.yaml");
mkdirSync(folder);
const loop = join(dir, "loop-a.yaml");
symlinkSync(join(dir, "loop-b.yaml"), loop);
symlinkSync(loop, join(dir, "loop-b.yaml"));
/** Sparse: no disk used, but a reader that trusts it reads 2 GiB. */
const huge = join(dir, "huge.yaml");
writeFileSync(huge, "");
truncateSync(huge, 2 * 1024 * 1024 * 1024);
const big = join(dir, "big.yaml");
writeFileSync(big, "");
truncateSync(big, 100 * 1024 * 1024);

const CASES: Array<{ path: string; reason: RegExp }> = [
  { path: "/dev/zero", reason: /not a regular file \(a character device\)/ },
  { path: "/dev/urandom", reason: /not a regular file \(a character device\)/ },
  { path: folder, reason: /not a regular file \(a directory\)/ },
  { path: loop, reason: /symlink loop \(ELOOP\)/ },
  { path: huge, reason: /larger than 8 MiB \(2048 MiB\)/ },
  { path: big, reason: /larger than 8 MiB \(100 MiB\)/ },
];

for (const c of CASES) {
  test(`config file ${c.path.replace(dir, "<tmp>")}: refused at once, the file named and what it is`, async () => {
    const started = Date.now();
    const r = await loadConfigFile(c.path, {});
    const ms = Date.now() - started;
    assert.ok(!r.ok);
    assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
    assert.ok(r.errors[0].message.startsWith(`cannot read config file ${c.path}: `), r.errors[0].message);
    assert.match(r.errors[0].message, c.reason);
    // Nothing read: a bound that holds on a loaded machine, far below reading 2 GiB (seconds).
    assert.ok(ms < scaled(2_000), `${ms} ms`);
  });
}

test("validate: /dev/zero as the config file is refused naming it, exit 1", async () => {
  const r = await runShardgate(["validate", "--config", "/dev/zero"]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(
    r.stderr.split("\n")[0],
    "/dev/zero: (top level): cannot read config file /dev/zero: not a regular file (a character device) (ENOTREG)",
  );
});

test("ctl route --keys-file: a folder or a 2 GiB file is a usage error naming it, exit 2", async () => {
  for (const [file, reason] of [
    [folder, "not a regular file (a directory)"],
    [huge, "larger than 64 MiB (2048 MiB)"],
  ] as const) {
    const r = await runShardgate([
      "ctl",
      "route",
      "users",
      "--keys-file",
      file,
      "--admin",
      "http://127.0.0.1:9",
    ]);
    assert.equal(r.code, 2, `${file}: ${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(
        `--keys-file "${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}": ${reason.replace(/[()]/g, "\\$&")}`,
      ),
    );
  }
});
