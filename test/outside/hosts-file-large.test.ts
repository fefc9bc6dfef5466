// /etc/hosts as an ad-blocking list (10 MiB, a few hundred thousand names mapped to 0.0.0.0,
// the operator's own names after them). Tried from the outside: the upstream lookup's hosts
// reader refused anything above 1 MiB, took the file as empty (said only on stderr), and its
// names went to DNS. Now such a file is parsed as it streams (64 KiB at a time, up to 32 MiB)
// and every name in it answers, the last line's included; an unchanged file is not parsed again
// and a changed one is.

import assert from "node:assert/strict";
import type { LookupAddress } from "node:dns";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { HostsFile } from "../../proxy/net/hosts-file.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(4417);
let dir = "";

before(() => {
  dir = mkdtempSync(join(tmpdir(), "sg-hosts-large-"));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** find(), or "no answer" when it has not called back within 30 s. */
function findWithin(h: HostsFile, name: string): Promise<LookupAddress[] | undefined | "no answer"> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve("no answer"), 30_000);
    h.find(name, (found) => {
      clearTimeout(t);
      resolve(found);
    });
  });
}

/** An ad-blocking list of at least `bytes`, seeded names, CRLF and comments mixed in. */
function adBlockList(bytes: number): { text: string; names: string[] } {
  const random = seededRandom(SEED);
  const lines: string[] = ["# ad-blocking list", "127.0.0.1 localhost"];
  const names: string[] = [];
  let size = 0;
  while (size < bytes) {
    const name = `ads-${Math.floor(random() * 2 ** 40).toString(36)}.tracker${lines.length}.example`;
    names.push(name);
    const line = random() < 0.1 ? `0.0.0.0 ${name} # blocked\r` : `0.0.0.0 ${name}`;
    lines.push(line);
    size += line.length + 1;
  }
  return { text: `${lines.join("\n")}\n10.1.2.3 Upstream-Last.internal`, names };
}

test("a 10 MiB ad-blocking hosts file is read whole: its first, middle and last names answer", {
  timeout: 120_000,
}, async () => {
  const path = join(dir, "hosts.adblock");
  const { text, names } = adBlockList(10 * 1024 * 1024);
  writeFileSync(path, text);
  const warnings: string[] = [];
  const h = new HostsFile(path, 10_000, Date.now, (m) => warnings.push(m));
  const blocked = [{ address: "0.0.0.0", family: 4 }];
  assert.deepEqual(
    await findWithin(h, "upstream-last.internal"),
    [{ address: "10.1.2.3", family: 4 }],
    seedNote(SEED),
  );
  assert.deepEqual(await findWithin(h, names[0]), blocked, seedNote(SEED));
  assert.deepEqual(await findWithin(h, names[names.length >> 1]), blocked, seedNote(SEED));
  assert.deepEqual(await findWithin(h, names[names.length - 1]), blocked, seedNote(SEED));
  assert.deepEqual(await findWithin(h, "localhost"), [{ address: "127.0.0.1", family: 4 }]);
  assert.deepEqual(warnings, []);
});

test("a hosts file is parsed again when it changes, and a name split across chunks is whole", {
  timeout: 120_000,
}, async () => {
  const path = join(dir, "hosts.changing");
  // The name straddles the first 64 KiB chunk boundary.
  const pad = `# ${"p".repeat(64 * 1024 - 20)}\n`;
  writeFileSync(path, `${pad}10.0.0.1 straddling-name.internal\n`);
  let t = 0;
  const h = new HostsFile(path, 10_000, () => t);
  assert.deepEqual(await findWithin(h, "straddling-name.internal"), [{ address: "10.0.0.1", family: 4 }]);
  writeFileSync(path, `${pad}10.0.0.2 straddling-name.internal other.internal\n`);
  t += 60_000;
  assert.deepEqual(await findWithin(h, "straddling-name.internal"), [{ address: "10.0.0.2", family: 4 }]);
  assert.deepEqual(await findWithin(h, "other.internal"), [{ address: "10.0.0.2", family: 4 }]);
});
