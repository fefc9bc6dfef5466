// The config load worker's file text reaches the main thread once per worker (when it closes
// idle, to seed the next one), not with every reload: a 5,000-member file's text was a 200+ KiB
// string per reload on the main thread, kept as the seed until the next reload. Measured as
// the median main-thread heapUsed across each one-member reload (a scavenge inside one can only
// lower it). And the next worker still starts from the last load: its first load reuses the
// member objects of the config the closed worker answered last.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadConfigFile } from "../../config/file/load.js";
import { loadConfigFileOffThread, loadWorkerRunning } from "../../config/file/load-off-thread.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { scaled } from "../support/wait.js";

const SEED = testSeed(16_2019);
const dir = mkdtempSync(join(tmpdir(), "sg-handover-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function pool(ids: readonly number[]): string {
  const lines = ids.map(
    (i) => `      - { id: member-${String(i).padStart(5, "0")}, address: "127.0.0.1:${1000 + (i % 50)}" }`,
  );
  return `pools:\n  p:\n    members:\n${lines.join("\n")}\nroutes:\n  - pool: p\n    key: [ip]\n`;
}

test("a one-member reload of a 5,000-member file brings no file text to the main thread; the next worker starts from the last load", async () => {
  const rnd = seededRandom(SEED);
  const file = join(dir, "big.yaml");
  const base: number[] = [];
  for (let i = 0; i < 5000; i++) base.push(i * 2);
  writeFileSync(file, pool(base));
  const first = await loadConfigFileOffThread(file, {}, { idleMs: 60_000 });
  assert.ok(first.ok);
  const allocated: number[] = [];
  let lastOk = first;
  for (let step = 0; step < 16; step++) {
    // Alternately a joiner at a seeded place (an odd id between two members), and the base.
    const ids = step % 2 === 0 ? [...base, 2 * Math.floor(rnd() * 5000) + 1].sort((a, b) => a - b) : base;
    writeFileSync(file, pool(ids));
    const h0 = process.memoryUsage().heapUsed;
    const r = await loadConfigFileOffThread(file, {}, { idleMs: step === 15 ? 1 : 60_000 });
    allocated.push(process.memoryUsage().heapUsed - h0);
    assert.ok(r.ok, seedNote(SEED));
    assert.equal(r.config.pools.p.members.length, ids.length, seedNote(SEED));
    lastOk = r;
  }
  const warm = [...allocated.slice(2)].sort((a, b) => a - b)[7];
  assert.ok(
    warm < 256 * 1024,
    `median main-thread heap bytes per one-member reload ${warm} (all: ${allocated.join(" ")}) ${seedNote(SEED)}`,
  );
  // The last load closed the worker when idle (1 ms): the next one starts from its handover.
  const deadline = Date.now() + scaled(30_000);
  while (loadWorkerRunning() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(loadWorkerRunning(), false, "the idle worker closed");
  assert.ok(lastOk.ok);
  writeFileSync(file, pool([...base, 3]));
  const r = await loadConfigFileOffThread(file, {}, { idleMs: 1 });
  const inline = await loadConfigFile(file, {});
  assert.ok(r.ok && inline.ok);
  assert.deepEqual(r.config, inline.config);
  assert.equal(
    r.config.pools.p.members[0],
    lastOk.config.pools.p.members[0],
    "members of the last load reused",
  );
});
