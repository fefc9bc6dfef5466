// `shardgate ctl route POOL --keys-file -` fed more than a keys file may hold, tried from the
// outside against a real shardgate. A keys file is refused past 64 MiB before a byte is read
// (route-command.ts, bounded-read.ts), but standard input was read whole with readFileSync(0):
// `head -c 300M /dev/zero | ctl route demo --keys-file -` held 1.6 GB and died with a stack
// trace (RangeError: Invalid string length, from encodeURIComponent), and 300 MB of short keys
// grew past 6 GB in two minutes before it was stopped. Now standard input has the same bound:
// past it ctl stops reading and says so, a usage mistake (exit 2), with nothing asked of the
// admin. Here 70 MiB of seeded long keys go in (the old code read them all, then stopped at the
// first key too long for one request: exit 1, the bound never said).

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const seed = testSeed(20_261_209);
const note = seedNote(seed);
const MIB = 1024 * 1024;
let ups: EchoUpstream[] = [];

after(async () => {
  await stopAll();
  await closeAll(ups);
});

/** Lines of 16-32 KiB keys (letters drawn from `random`) adding up to at least `bytes`. */
function longKeys(random: () => number, bytes: number): string {
  const lines: string[] = [];
  let total = 0;
  while (total < bytes) {
    const length = 16 * 1024 + Math.floor(random() * 16 * 1024);
    const letter = String.fromCharCode(97 + Math.floor(random() * 26));
    lines.push(letter.repeat(length));
    total += length + 1;
  }
  return `${lines.join("\n")}\n`;
}

test("ctl route --keys-file - refuses standard input past the keys file bound", async () => {
  ups = await startUpstreams(1, "ks");
  const sg = await startShardgate(
    poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), accessLog: false }),
  );
  const input = longKeys(seededRandom(seed), 70 * MIB);
  const r = await runCtl(["--admin", sg.adminUrl, "route", "users", "--keys-file", "-"], {}, 60_000, input);
  const said = `exit ${r.code}\n${r.stdout.slice(0, 500)}\n${r.stderr.slice(0, 1000)}\n${note}`;
  assert.equal(r.code, 2, `a usage mistake\n${said}`);
  assert.match(r.stderr, /--keys-file - \(stdin\): more than 64 MiB/, `says the bound\n${said}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace\n${said}`);

  // Within the bound, standard input still gives its keys.
  const small = await runCtl(
    ["--admin", sg.adminUrl, "route", "users", "--keys-file", "-"],
    {},
    30_000,
    "a\nb\n",
  );
  assert.equal(small.code, 0, `two keys on stdin\n${small.stdout}\n${small.stderr}\n${note}`);
  assert.match(small.stdout, /\ba\b[\s\S]*\bb\b/, `a row per key\n${small.stdout}\n${note}`);
});
