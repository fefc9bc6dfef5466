// Tried from the outside: how `workers: N` splits the container's memory.max (no limits.memory)
// between the primary and its workers (proxy/server/memory-limit.ts, proxy/app/primary-memory-split.ts).
//
// 1. A container too small for the primary and its workers at idle (memory.max 300 MB, 2 workers,
//    each process ~100-120 MB idle): the primary got an even share (100 MB) under its own idle
//    footprint, refused from the start, and /readyz stayed 503 with nothing said about why. Now
//    the primary keeps at least its idle footprint (plus its growth once the workers run, under
//    shedAt) and the start says, with the figures, that memory.max cannot hold them all.
// 2. A large Raft log (1,000 entries of 64 KiB, which the primary mirrors in memory): the
//    primary's reserve was twice its RSS measured before the log loaded, so the log alone took it
//    past shedAt (here 0.65) and it shed at idle (/readyz degraded, shardgate_overload_state 1).
//    Now it is measured again once the Raft state is loaded.
//
// memory.max comes from a private mount namespace (test/support/cgroup-memory.ts); the test is
// skipped, saying why, where that cannot be set up. Real shardgate processes; bounded waits; every
// process stopped.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { KIND_COMMAND, wrapEntry } from "../../config/raft/driver/envelope.js";
import { FileStorage } from "../../config/raft/storage/index.js";
import { memoryMaxUnavailable, underMemoryMax } from "../support/cgroup-memory.js";
import { seedNote, testSeed } from "../support/prng.js";
import { type LogLine, poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

// Nothing here is random; the seed is printed for the suite's convention.
const SEED = testSeed(20_261_206);
const MB = 1024 * 1024;
/** The Raft log the second test loads: ~64 MB, under snapshotEvery (10,000) so none is compacted. */
const LOG_ENTRIES = 1_000;
const ENTRY_BYTES = 64 * 1024;
const unavailable = memoryMaxUnavailable();
const dirs = new Set<string>();
let member: Server | undefined;
let memberPort = 0;

before(async () => {
  const m = createServer((_req, res) => res.end("ok"));
  member = m;
  await new Promise<void>((resolve) => m.listen(0, "127.0.0.1", resolve));
  memberPort = (m.address() as { port: number }).port;
});

after(async () => {
  await stopAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await new Promise<void>((resolve) => {
    if (member === undefined) return resolve();
    member.closeAllConnections();
    member.close(() => resolve());
  });
});

/** `count` members (only the first answers; nothing is routed to them in these tests). */
function config(count: number, limits: string): string {
  const members = Array.from({ length: count }, (_, i) => ({
    id: `m${i}`,
    port: i === 0 ? memberPort : 1 + (i % 60_000),
  }));
  return `${poolConfig({ members, accessLog: false }).replace("pools:\n", `${limits}pools:\n`)}workers: 2\n`;
}

/**
 * A leader's refusal (commands.ts encodeRefusal: every build applies it as an invalid command and
 * changes nothing) with `pad` beside its short reason, so the line that logs the reason stays short.
 */
function refusal(i: number, pad: string): Uint8Array {
  return Buffer.from(JSON.stringify({ v: 1, type: "Drain", refusedByLeader: `filler ${i}`, pad }));
}

const primaryOverloaded = (lines: readonly LogLine[]): LogLine | undefined =>
  lines.find((l) => l.code === "overloaded" && l.worker === undefined);

test("memory.max too small for the primary and 2 workers: said at start with the figures; the primary keeps its idle footprint", {
  skip: unavailable ?? false,
}, async () => {
  const sg = await startShardgate(config(1, ""), { prefix: underMemoryMax(300 * MB), waitReady: false });
  const note = seedNote(SEED);
  const warning = await sg.proc.waitForLine(
    "the warning that memory.max is too small",
    (l) => l.code === "memory_too_small_for_workers",
  );
  assert.match(
    String(warning.msg),
    /^memory\.max 300 MB cannot hold the primary and 2 workers at idle: the primary keeps \d+ MB, leaving \d+ MB per worker against the ~\d+ MB a worker needs idle.*at least \d+ MB, or lower workers$/,
    note,
  );
  const split = await sg.proc.waitForLine("the primary's budget line", (l) => l.code === "memory_split");
  const rss = Number(split.primaryRssMb);
  const limit = Number(split.primaryLimitMb);
  // An even share was 100 MB; the primary now keeps its footprint with room under shedAt.
  assert.ok(limit > 100 && rss / limit < 0.85, `primary ${rss} MB in use, budget ${limit} MB (${note})`);
  // The workers, with what is left, refuse: once both said so the primary has sampled for longer.
  await sg.proc.waitForLine("worker 0 over its budget", (l) => l.code === "overloaded" && l.worker === 0);
  await sg.proc.waitForLine("worker 1 over its budget", (l) => l.code === "overloaded" && l.worker === 1);
  assert.equal(
    primaryOverloaded(sg.proc.lines),
    undefined,
    `the primary itself is over its budget (${note})`,
  );
  assert.equal((await sg.stop()).code, 0, note);
});

test("a large Raft log: the primary's budget is measured with it loaded, and the idle primary does not shed", {
  skip: unavailable ?? false,
}, async () => {
  const note = `${LOG_ENTRIES} entries of ${ENTRY_BYTES / 1024} KiB; ${seedNote(SEED)}`;
  // A first start writes the data directory; then the log is grown with entries every build
  // applies as an invalid command (a leader's refusal), so the state stays as it is and only the
  // log, mirrored in memory by the primary alone (file-storage.ts), is large.
  const dataDir = mkdtempSync(join(tmpdir(), "sg-split-raft-"));
  dirs.add(dataDir);
  const cluster = `cluster:\n  id: n1\n  dataDir: ${dataDir}\n`;
  const first = await startShardgate(`${config(1, "").replace("workers: 2\n", "")}${cluster}`);
  assert.equal((await first.stop()).code, 0, note);
  const store = await FileStorage.open(dataDir, { fsync: false });
  const last = store.lastIndex();
  const term = store.hardState().term;
  const filler = "x".repeat(ENTRY_BYTES);
  store.append(
    Array.from({ length: LOG_ENTRIES }, (_, i) => ({
      term,
      index: last + 1 + i,
      type: "normal" as const,
      // As the driver wraps a command (envelope.ts): a session no node has, sequence i.
      data: wrapEntry(KIND_COMMAND, 0xfffffff0, 1, i, refusal(i, filler)),
    })),
  );
  await store.sync();
  await store.close();

  const limits = "limits:\n  shedAt: 0.65\n  refuseAt: 0.95\n";
  const sg = await startShardgate(`${config(1, limits)}${cluster}`, {
    prefix: underMemoryMax(2000 * MB),
    waitReady: false,
  });
  // Ready, and not degraded: the primary is under shedAt (a shedding one answers degraded).
  let lastReady = "";
  await eventually(
    "/readyz 200 and not degraded",
    async () => {
      const res = await fetch(`${sg.adminUrl}/readyz`);
      const body = (await res.json()) as { degraded?: boolean };
      lastReady = `${res.status} ${JSON.stringify(body)}`;
      return res.status === 200 && body.degraded !== true ? true : undefined;
    },
    60_000,
    200,
  ).catch((err: Error) => {
    const lines = sg.proc.lines.filter((l) => l.code === "overloaded" || l.code === "memory_split");
    throw new Error(
      `${err.message} (last ${lastReady}): ${lines.map((l) => JSON.stringify(l)).join("\n")} (${note})`,
    );
  });
  assert.equal(primaryOverloaded(sg.proc.lines), undefined, `the primary shed at idle (${note})`);
  const split = sg.proc.lines.find((l) => l.code === "memory_split");
  assert.ok(split !== undefined, `the primary's budget line (${note})`);
  const before = Number(split.primaryRssBeforeStateMb);
  const rss = Number(split.primaryRssMb);
  const logMb = (LOG_ENTRIES * ENTRY_BYTES) / MB;
  assert.ok(rss >= before + logMb / 2, `the log loaded grew the primary: ${before} -> ${rss} MB (${note})`);
  // Twice its RSS as loaded (both figures rounded to the MB).
  assert.ok(
    Number(split.primaryLimitMb) >= 2 * rss - 1,
    `budget ${split.primaryLimitMb} MB for ${rss} MB (${note})`,
  );
  assert.equal((await sg.stop()).code, 0, `${note}\n${sg.proc.output().slice(-3000)}`);
});
