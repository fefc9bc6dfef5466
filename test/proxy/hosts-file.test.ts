// The hosts file of the upstream lookup (proxy/net/hosts-file.ts) pointed at what is not a small
// regular file: a FIFO nobody writes (read with readFile, it parked a thread-pool thread for
// good and the lookup waiting on it never answered), a directory, a file past the cap. Each is
// taken as empty, at once, and said once; a regular file is still read.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import type { LookupAddress } from "node:dns";
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { HostsFile } from "../../proxy/net/hosts-file.js";

let dir = "";

before(() => {
  dir = mkdtempSync(join(tmpdir(), "sg-hosts-"));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** find(), or "no answer" when it has not called back within 5 s. */
function findWithin(h: HostsFile, name: string): Promise<LookupAddress[] | undefined | "no answer"> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve("no answer"), 5000);
    h.find(name, (found) => {
      clearTimeout(t);
      resolve(found);
    });
  });
}

/** A clock the test moves, so each find() past maxAgeMs reads the file again. */
function steppingClock(): { now: () => number; step: () => void } {
  let t = 0;
  return {
    now: () => t,
    step: () => {
      t += 60_000;
    },
  };
}

async function refusedOnce(path: string, kind: RegExp, maxBytes?: number): Promise<void> {
  const warnings: string[] = [];
  const clock = steppingClock();
  const h = new HostsFile(path, 10_000, clock.now, (m) => warnings.push(m), maxBytes);
  assert.equal(await findWithin(h, "localhost"), undefined);
  clock.step();
  assert.equal(await findWithin(h, "localhost"), undefined, "read again, still empty");
  assert.equal(warnings.length, 1, `said once: ${JSON.stringify(warnings)}`);
  assert.ok(warnings[0].includes(path), warnings[0]);
  assert.match(warnings[0], kind);
}

test("a FIFO nobody writes is taken as empty at once, said once", async () => {
  const fifo = join(dir, "hosts.fifo");
  execFileSync("mkfifo", [fifo]);
  try {
    await refusedOnce(fifo, /FIFO/);
  } finally {
    // A reader blocked in open(2) on the FIFO (the old readFile) is let go: O_RDWR opens at once.
    closeSync(openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK));
  }
});

test("a directory is taken as empty, said once", async () => {
  const d = join(dir, "hosts.d");
  mkdirSync(d);
  await refusedOnce(d, /directory/);
});

test("a file past the cap (here 1 MiB) is taken as empty, said once; one within it is read", async () => {
  const big = join(dir, "hosts.big");
  writeFileSync(big, `127.0.0.9 big.test\n${"#".repeat(1024 * 1024)}\n`);
  await refusedOnce(big, /larger than/, 1024 * 1024);

  const small = join(dir, "hosts.small");
  writeFileSync(small, "127.0.0.9 Small.Test other # comment\n::1 small.test\n");
  const warnings: string[] = [];
  const h = new HostsFile(small, 10_000, Date.now, (m) => warnings.push(m));
  assert.deepEqual(await findWithin(h, "small.test"), [
    { address: "127.0.0.9", family: 4 },
    { address: "::1", family: 6 },
  ]);
  assert.deepEqual(warnings, []);
});
