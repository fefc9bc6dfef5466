// The overload guard (proxy/server/overload.ts) on injected memory samples: the levels it gives,
// one change per episode (hysteresis), the memory it counts as held (freed Buffers leave the
// RSS high: a guard reading the RSS alone never left its first episode; memory outside V8's
// accounting, such as OpenSSL's, through an estimate per connection; Buffers made after the first
// sample through V8's external memory, once), the collection it asks
// for while over a threshold, and the budget read from a cgroup v2 memory.max file.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  connectionBytes,
  H2_SESSION_BYTES,
  PLAIN_SOCKET_BYTES,
} from "../../proxy/server/connection-memory.js";
import {
  budgetAboveCgroup,
  idleShare,
  parseCgroupMax,
  primaryFloor,
  primaryReserve,
  resolveMemoryLimit,
  splitShortfall,
} from "../../proxy/server/memory-limit.js";
import { COLLECT_EVERY, type MemorySample, OverloadGuard } from "../../proxy/server/overload.js";
import { TLS_SOCKET_BYTES } from "../../proxy/server/tls-memory.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const MB = 1024 * 1024;
const SEED = testSeed(20_261_207);

/** A guard over a 100 MB budget whose samples the test sets; records every change. */
function guardOver(first: MemorySample) {
  let sample = first;
  let collections = 0;
  const changes: Array<[number, number]> = [];
  const guard = new OverloadGuard({
    rssLimit: 100 * MB,
    shedAt: 0.85,
    refuseAt: 0.95,
    sample: () => sample,
    collect: () => {
      collections++;
    },
    // Collections here take no time (the clock stands still): spacing them is tested below.
    now: () => 0,
    onChange: (level, previous) => changes.push([previous, level]),
  });
  return {
    guard,
    changes,
    collections: () => collections,
    /** A sample whose RSS and V8 accounting both say `mb` held (no native part beyond the first). */
    set(mb: number, rss = mb) {
      sample = {
        rss: rss * MB,
        heapResident: 10 * MB,
        heapUsed: 8 * MB,
        heapLimit: 1000 * MB,
        external: (mb - 10 - 20) * MB,
      };
    },
  };
}

const idle = (): MemorySample => ({
  rss: 60 * MB,
  heapResident: 10 * MB,
  heapUsed: 8 * MB,
  heapLimit: 1000 * MB,
  external: 30 * MB,
});

test("levels rise at each threshold and fall only 5 points below it: one episode, one change each way", () => {
  const g = guardOver(idle());
  assert.equal(g.guard.check(), 0);
  g.set(86);
  assert.equal(g.guard.check(), 1);
  g.set(96);
  assert.equal(g.guard.check(), 2);
  // Hovering just under a threshold keeps the level (no flapping log lines).
  g.set(93);
  assert.equal(g.guard.check(), 2);
  g.set(89);
  assert.equal(g.guard.check(), 1);
  g.set(82);
  assert.equal(g.guard.check(), 1);
  g.set(79);
  assert.equal(g.guard.check(), 0);
  assert.deepEqual(g.changes, [
    [0, 1],
    [1, 2],
    [2, 1],
    [1, 0],
  ]);
});

test("random walks of memory: the level always matches the thresholds and its previous level", () => {
  const random = seededRandom(SEED);
  const g = guardOver(idle());
  g.guard.check();
  let previous = 0;
  for (let i = 0; i < 2000; i++) {
    const mb = 60 + Math.floor(random() * 45);
    g.set(mb);
    const level = g.guard.check();
    const u = mb / 100;
    const want =
      u >= 0.95 || (previous === 2 && u >= 0.9) ? 2 : u >= 0.85 || (previous !== 0 && u >= 0.8) ? 1 : 0;
    assert.equal(level, want, `step ${i}: ${mb} MB from level ${previous}; ${seedNote(SEED)}`);
    previous = level;
  }
});

test("memory freed inside the process ends the episode though the RSS stays high", () => {
  const g = guardOver(idle());
  g.guard.check();
  g.set(90);
  assert.equal(g.guard.check(), 1);
  // The Buffers are gone (V8 accounts 50 MB held) but the allocator keeps the pages: RSS 90 MB.
  g.set(50, 90);
  assert.equal(g.guard.check(), 0, "an RSS that never falls must not hold the process in overload");
});

test("V8's young generation committed ahead of use does not hold a tight budget in overload", () => {
  // A real shardgate process (test/outside/overload-tls.test.ts, budget 140 MB, idle RSS 95 MB):
  // its first sample came before V8 grew its new space from 16 to 32 MB committed (heap committed
  // 34 -> 53 MB), of which the RSS showed 5 MB. Counting the heap as committed kept the untouched
  // 14 MB as held for good: after the TLS flood was gone the guard read 113 MB, over the 112 MB
  // (0.80) it needs to fall under, and the episode never ended. The heap here is the part V8 has
  // touched: its committed size less the untouched new space (19 MB; it grew as the RSS did).
  let sample: MemorySample = {
    rss: 90 * MB,
    heapResident: 19 * MB,
    heapUsed: 25 * MB,
    heapLimit: 4144 * MB,
    external: 3 * MB,
  };
  let tls = 0;
  const guard = new OverloadGuard({
    rssLimit: 140 * MB,
    shedAt: 0.85,
    refuseAt: 0.95,
    sample: () => sample,
    unaccounted: () => tls,
  });
  assert.equal(guard.check(), 0);
  sample = { ...sample, rss: 95 * MB, heapResident: 24 * MB, heapUsed: 23 * MB };
  assert.equal(guard.check(), 0);
  // The flood: 800 quiet TLS connections, their estimate 25 MB; the old generation grew 6 MB.
  tls = 25 * MB;
  sample = { ...sample, rss: 123 * MB, heapResident: 30 * MB, heapUsed: 26 * MB };
  assert.equal(guard.check(), 1, `the flood sheds (usage ${guard.usage})`);
  // The clients are gone; the RSS stays where the allocator left it, V8's heap as it grew.
  tls = 0;
  sample = { ...sample, rss: 124 * MB, heapResident: 28 * MB, heapUsed: 23 * MB };
  assert.equal(guard.check(), 0, `the episode ends once the flood is gone (usage ${guard.usage})`);
});

test("memory outside V8's accounting that grows with load (TLS sockets) counts through its estimate, never past the RSS", () => {
  let sample = idle();
  let unaccounted = 0;
  const guard = new OverloadGuard({
    rssLimit: 100 * MB,
    shedAt: 0.85,
    refuseAt: 0.95,
    sample: () => sample,
    unaccounted: () => unaccounted,
  });
  assert.equal(guard.check(), 0);
  // OpenSSL's buffers: the RSS grows by 30 MB, V8's accounting not at all.
  sample = { ...sample, rss: 90 * MB };
  assert.equal(guard.check(), 0, "without an estimate the growth is unseen");
  unaccounted = 30 * MB;
  assert.equal(guard.check(), 1);
  assert.equal(guard.usage, 0.9);
  // An estimate above what the RSS shows counts only up to the RSS.
  unaccounted = 200 * MB;
  assert.equal(guard.check(), 1);
  assert.equal(guard.usage, 0.9);
  // The sockets close: the estimate falls with them and the episode ends.
  unaccounted = 0;
  assert.equal(guard.check(), 0);
});

test("V8's heap near its own limit sheds whatever the RSS budget says", () => {
  let sample: MemorySample = {
    rss: 10 * MB,
    heapResident: 5 * MB,
    heapUsed: 4 * MB,
    heapLimit: 100 * MB,
    external: 0,
  };
  const guard = new OverloadGuard({ rssLimit: null, shedAt: 0.85, refuseAt: 0.95, sample: () => sample });
  assert.equal(guard.check(), 0);
  sample = { ...sample, rss: 120 * MB, heapResident: 99 * MB, heapUsed: 96 * MB };
  assert.equal(guard.check(), 2);
});

test("while over a threshold a collection runs every COLLECT_EVERY samples, never when normal", () => {
  const g = guardOver(idle());
  for (let i = 0; i < 3 * COLLECT_EVERY; i++) g.guard.check();
  assert.equal(g.collections(), 0);
  g.set(90);
  for (let i = 0; i < 3 * COLLECT_EVERY; i++) g.guard.check();
  assert.equal(g.collections(), 3);
});

test("forced collections take at most a tenth of the time, however long one pauses the process", () => {
  // A clock the test moves: 250 ms per sample (the timer), and each collection pauses the
  // process for as long as its heap takes to mark (measured 2 s at 740 MB of small objects).
  const rnd = seededRandom(SEED);
  let clock = 0;
  let paused = 0;
  let collections = 0;
  const guard = new OverloadGuard({
    rssLimit: 100 * MB,
    shedAt: 0.85,
    refuseAt: 0.95,
    sample: () => ({
      rss: 90 * MB,
      heapResident: 40 * MB,
      heapUsed: 36 * MB,
      heapLimit: 1000 * MB,
      external: 30 * MB,
    }),
    collect: () => {
      collections++;
      const pause = 1000 + Math.floor(rnd() * 2000);
      clock += pause;
      paused += pause;
    },
    now: () => clock,
  });
  for (let i = 0; i < 400; i++) {
    guard.check();
    clock += 250;
  }
  const share = paused / clock;
  assert.ok(collections >= 2, `still collects while overloaded (${collections}) ${seedNote(SEED)}`);
  assert.ok(share <= 0.12, `collections took ${(share * 100).toFixed(0)}% of the time ${seedNote(SEED)}`);
});

test("the budget: limits.memory, else cgroup v2 memory.max (with workers: the primary's reserve, the workers the rest), else V8's heap limit", () => {
  assert.equal(parseCgroupMax("max\n"), null);
  assert.equal(parseCgroupMax("536870912\n"), 536870912);
  assert.equal(parseCgroupMax(""), null);
  assert.equal(parseCgroupMax("-1"), null);
  const dir = mkdtempSync(join(tmpdir(), "shardgate-cgroup-"));
  try {
    const file = join(dir, "memory.max");
    writeFileSync(file, "536870912\n");
    assert.deepEqual(resolveMemoryLimit(64 * MB, undefined, file), { bytes: 64 * MB, source: "config" });
    assert.deepEqual(resolveMemoryLimit(undefined, undefined, file), { bytes: 512 * MB, source: "cgroup" });
    // workers: 3, the primary ~37.5 MB at start: it keeps 75 MB, each worker a third of the rest.
    const reserve = primaryReserve(37.5 * MB);
    assert.equal(reserve, 75 * MB);
    const worker = { role: "worker", workers: 3, primaryReserve: reserve, primaryFloor: 0 } as const;
    const primary = { ...worker, role: "primary" } as const;
    assert.deepEqual(resolveMemoryLimit(undefined, primary, file), { bytes: 75 * MB, source: "cgroup" });
    // An even share gave every process 128 MB, ~90 MB of the primary's never used.
    assert.equal(resolveMemoryLimit(undefined, worker, file).bytes, Math.floor((437 * MB) / 3));
    // A primary larger than an even share keeps no more than one: the workers get no less than before.
    const big = { ...worker, primaryReserve: primaryReserve(300 * MB) };
    // (its floor 0 here: a primary whose floor is above an even share keeps its floor, below)
    assert.equal(resolveMemoryLimit(undefined, { ...big, role: "primary" }, file).bytes, 128 * MB);
    assert.equal(resolveMemoryLimit(undefined, big, file).bytes, 128 * MB);
    // An even share under the primary's idle footprint (300 MB, 2 workers: 100 MB against 105 MB in
    // use) made it refuse from the start; it keeps its floor (105 x 1.15 / 0.8), the workers the rest.
    const small = join(dir, "small.max");
    writeFileSync(small, `${300 * MB}\n`);
    const idle = 105 * MB;
    const tight = {
      role: "primary",
      workers: 2,
      primaryReserve: primaryReserve(idle),
      primaryFloor: primaryFloor(idle, 0.85),
    } as const;
    assert.equal(tight.primaryFloor, idleShare(idle * 1.15, 0.85));
    assert.equal(idleShare(idle, 0.85), Math.ceil(idle / 0.8));
    assert.equal(resolveMemoryLimit(undefined, tight, small).bytes, tight.primaryFloor);
    const tightWorker = resolveMemoryLimit(undefined, { ...tight, role: "worker" }, small).bytes;
    assert.equal(tightWorker, Math.floor((300 * MB - tight.primaryFloor) / 2));
    // Two workers needing ~90 MB idle each do not fit beside it: said, with what would fit.
    assert.match(
      String(splitShortfall(undefined, tight, 90 * MB, small)),
      /^memory.max 300 MB cannot hold the primary and 2 workers at idle: the primary keeps 151 MB, leaving 75 MB per worker against the ~90 MB .*at least 331 MB/,
    );
    assert.equal(
      splitShortfall(undefined, tight, 70 * MB, small),
      null,
      "workers needing 70 MB fit in 75 MB",
    );
    assert.equal(
      splitShortfall(256 * MB, tight, 90 * MB, small),
      null,
      "limits.memory set: each process has it",
    );
    // The shares never sum past memory.max.
    assert.ok(
      resolveMemoryLimit(undefined, primary, file).bytes +
        3 * resolveMemoryLimit(undefined, worker, file).bytes <=
        512 * MB,
    );
    // limits.memory above the process's share of memory.max is said (the OOM killer comes first);
    // with workers the share is a worker's, for the primary too (limits.memory applies to each).
    assert.equal(budgetAboveCgroup(undefined, undefined, file), null);
    assert.equal(budgetAboveCgroup(512 * MB, undefined, file), null);
    assert.equal(budgetAboveCgroup(140 * MB, primary, file), null);
    assert.match(
      String(budgetAboveCgroup(150 * MB, primary, file)),
      /above this process's share .*146 MB of memory.max 512 MB for each of 3 workers beside the primary's 75 MB/,
    );
    writeFileSync(file, "max\n");
    assert.equal(resolveMemoryLimit(undefined, undefined, file).source, "v8-heap");
    assert.equal(budgetAboveCgroup(4096 * MB, undefined, file), null);
    assert.equal(resolveMemoryLimit(undefined, undefined, join(dir, "absent")).source, "v8-heap");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("out of descriptors, a sample still reads memory (V8's accounting) and the guard decides: no throw in the timer", async () => {
  // Reading RSS opens /proc/self/stat: at the descriptor limit process.memoryUsage() throws
  // EMFILE, and the sampling timer's throw took the process down (seen: fd-limit-h2-backoff's
  // shardgate gone mid-test). A child fills its descriptors, then samples and checks.
  const overload = new URL("../../proxy/server/overload.js", import.meta.url).href;
  const script = `
    const fs = require("node:fs");
    import(${JSON.stringify(overload)}).then(({ readMemory, OverloadGuard }) => {
      const held = [];
      try { for (let i = 0; i < 100000; i++) held.push(fs.openSync("/dev/null", "r")); } catch {}
      let rssThrows = false;
      try { process.memoryUsage.rss(); } catch { rssThrows = true; }
      const s = readMemory();
      const guard = new OverloadGuard({ rssLimit: 1 << 30, shedAt: 0.85, refuseAt: 0.95 });
      const level = guard.check();
      for (const fd of held) fs.closeSync(fd);
      console.log(JSON.stringify({ rssThrows, rss: String(s.rss), heapUsed: s.heapUsed, level, usage: guard.usage }));
    });`;
  const { execFileSync } = await import("node:child_process");
  const out = JSON.parse(
    execFileSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 60_000 }).trim(),
  ) as { rssThrows: boolean; rss: string; heapUsed: number; level: number; usage: number };
  assert.equal(out.rssThrows, true, "the premise: reading RSS throws with no descriptor left");
  assert.equal(out.rss, "Infinity", "RSS unknown");
  assert.ok(out.heapUsed > 0, "V8's accounting still read");
  assert.equal(out.level, 0, "a small process is normal");
  assert.ok(out.usage > 0 && out.usage < 0.85, `usage from V8's accounting: ${out.usage}`);
});

test("Buffers and ArrayBuffers made after the first sample count, once each (V8's external memory holds them)", async () => {
  // In a child of its own: the test runner's memory must not move the figures. Node 20's
  // external memory (v8.getHeapStatistics) includes every ArrayBuffer's backing store, Buffers'
  // too, as process.memoryUsage().arrayBuffers does: adding the two would count them twice.
  const overload = new URL("../../proxy/server/overload.js", import.meta.url).href;
  const script = `
    import(${JSON.stringify(overload)}).then(({ OverloadGuard }) => {
      const limit = 1 << 30;
      const guard = new OverloadGuard({ rssLimit: limit, shedAt: 0.85, refuseAt: 0.95 });
      guard.check();
      const before = guard.usage * limit;
      const kept = [];
      for (let i = 0; i < 48; i++) kept.push(Buffer.alloc(1 << 20, 1));
      for (let i = 0; i < 16; i++) new Uint8Array(kept[kept.push(new ArrayBuffer(1 << 20)) - 1]).fill(1);
      guard.check();
      const after = guard.usage * limit;
      const ab = process.memoryUsage().arrayBuffers;
      console.log(JSON.stringify({ grew: after - before, arrayBuffers: ab, kept: kept.length }));
    });`;
  const { execFileSync } = await import("node:child_process");
  const out = JSON.parse(
    execFileSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 60_000 }).trim(),
  ) as { grew: number; arrayBuffers: number };
  const grew = out.grew / MB;
  assert.ok(out.arrayBuffers >= 64 * MB, `the premise: 64 MB of array buffers (${out.arrayBuffers / MB} MB)`);
  assert.ok(grew > 56 && grew < 80, `the guard's held memory grew ${grew.toFixed(1)} MB for 64 MB made`);
});

test("the listener's connections count per connection: a plain socket, a TLS one, an HTTP/2 session on top", () => {
  assert.equal(connectionBytes(0, false, 0), 0);
  assert.equal(connectionBytes(1000, false, 0), 1000 * PLAIN_SOCKET_BYTES);
  assert.equal(connectionBytes(1000, true, 0), 1000 * TLS_SOCKET_BYTES);
  // An h2c session is a plain socket and its session: ~19 KB measured, 20 KB counted.
  assert.equal(connectionBytes(1000, false, 1000), 1000 * (PLAIN_SOCKET_BYTES + H2_SESSION_BYTES));
  assert.equal(PLAIN_SOCKET_BYTES + H2_SESSION_BYTES, 20 * 1024);
  assert.equal(connectionBytes(10, true, 4), 10 * TLS_SOCKET_BYTES + 4 * H2_SESSION_BYTES);
});
