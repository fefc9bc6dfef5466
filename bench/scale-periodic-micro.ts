// The periodic work of issue 16's request row, timed alone at growing pool sizes:
// `npm run bench -- scale-periodic [--sizes 3,1000,10000] [--repeats 7]`. Under the request
// rows' load (10,000 keys over the pool) an instance drains its outcome recorder every 100 ms
// and the leader's breaker decider ingests the batch (one entry per member that served in those
// 100 ms) and ticks every 100 ms. Prints, per size, the cost of each such step and what it
// costs per second, next to the 3-member pool's; a step that grows with the pool lands inside
// some request's latency once per period. Also a health flush's guard pass, the way it was
// done before (a check state, a map entry and a guard input per member) next to now.
// Then the drain alone (its recording untimed), with one period's traffic and with every
// member active; `--against DIR` (another checkout, built: DIR/dist/health/outcome-recorder.js)
// times that build's recorder next to this one's, passes interleaved in one process.

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { ActiveHealthChecker } from "../health/active-check.js";
import { BreakerDecider, type BreakerRules, type OutcomeCounts, OutcomeRecorder } from "../health/breaker.js";
import { guardCommitted, guardHealth } from "../health/controller/panic-guard.js";
import { checksum, median, nsPerCall } from "./micro-time.js";
import { runIfMain } from "./run-if-main.js";

const RULES: BreakerRules = {
  consecutiveFailures: 5,
  failureRate: 0.5,
  minRequests: 20,
  window: 10_000,
  openFor: 5_000,
  maxOpenFor: 60_000,
  halfOpenProbes: 3,
};
/** Requests per 100 ms period at the request rows' rate (~14,000 req/s). */
const PER_PERIOD = 1400;
const PERIOD_MS = 100;
/** Periods per bucket of the breaker window (window / 10). */
const PERIODS_PER_BUCKET = RULES.window / 10 / PERIOD_MS;

function entry(member: string): OutcomeCounts {
  return {
    pool: "scale",
    member,
    success: 1,
    failure: 0,
    consecutive: 0,
    maxConsecutive: 0,
    connectErrors: 0,
    resets: 0,
    timeouts: 0,
  };
}

interface Row {
  size: number;
  /** us per drain of one period's outcomes. */
  drainUs: number;
  /** us per ingest of one period's batch (leader), averaged over the periods of one window bucket. */
  ingestUs: number;
  /** The same, the way it was done before: a member-set probe per entry, then the ingest. */
  ingestOldUs: number;
  /** us per tick with every member with traffic tracked and one breaker open. */
  tickOpenUs: number;
  /** Members such a tick visits. */
  tickOpenVisits: number;
  /** us of a whole forgettable sweep forgetting every tracked member (spread over ticks). */
  sweepUs: number;
  /** us of its median tick (one slice). */
  sliceUs: number;
  /** us of a health flush's guard pass the old way (check states, map, guard inputs) and now. */
  flushOldUs: number;
  flushUs: number;
}

function measure(size: number, repeats: number): Row {
  const ids = Array.from({ length: size }, (_, i) => `m${i}`);
  // Recorder: each period, PER_PERIOD requests to random members, then a drain.
  const rec = new OutcomeRecorder();
  const slots = ids.map((id) => rec.slot("scale", id));
  let x = 12345;
  const rnd = () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x;
  };
  const picks = Int32Array.from({ length: PER_PERIOD * 16 }, () => slots[rnd() % size]);
  let p = 0;
  const drainNs = nsPerCall(1, repeats, () => {
    for (let i = 0; i < PER_PERIOD; i++) rec.recordStatus(picks[p++ % picks.length], 200);
    return rec.drain().entries.length;
  });
  // Decider: the batch of one period (one entry per distinct member), ingested by the leader.
  const distinct = [...new Set(Array.from({ length: PER_PERIOD }, () => ids[rnd() % size]))];
  const batch = { entries: distinct.map(entry) };
  // Timed a second of periods at a time (PERIODS_PER_BUCKET ingests): the rotation of the
  // windows and the forgettable sweep's slices come once per bucket, so timing single ingests
  // made the median depend on where the bucket boundary fell among the few samples.
  // As the leader's controller does: the pool's members passed as `known` (the decider asks
  // about members it has no state for); before, the controller probed its member set for
  // every entry and the decider looked the member up again. Both timed a second of periods
  // at a time, passes interleaved.
  const known = new Set(ids);
  const ingestPass = (probeFirst: boolean) => {
    const d = new BreakerDecider(RULES, 30_000);
    d.ingest({ entries: ids.map(entry) }, 0, known);
    let at = 0;
    return () => {
      let n = 0;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < PERIODS_PER_BUCKET; i++) {
        at += PERIOD_MS;
        // The controller groups a batch's entries by pool (one pool here).
        const list: OutcomeCounts[] = [];
        if (probeFirst) {
          for (const e of batch.entries) if (known.has(e.member)) list.push(e);
          n += d.ingest({ entries: list }, at).length;
        } else {
          for (const e of batch.entries) list.push(e);
          n += d.ingest({ entries: list }, at, known).length;
        }
      }
      if (n < 0) throw new Error("unreachable");
      return Number(process.hrtime.bigint() - t0) / PERIODS_PER_BUCKET;
    };
  };
  const ingestPasses = [ingestPass(true), ingestPass(false)];
  const ingestSamples: number[][] = [[], []];
  for (let r = 0; r < 3 + repeats * 3; r++)
    for (const [k, pass] of ingestPasses.entries()) {
      const ns = pass();
      if (r >= 3) ingestSamples[k].push(ns);
    }
  const ingestOldNs = median(ingestSamples[0]);
  const ingestNs = median(ingestSamples[1]);
  // The tick rows' decider, in the state the single-ingest timing left it in before.
  const d = new BreakerDecider(RULES, 30_000);
  d.ingest({ entries: ids.map(entry) }, 0);
  let now = 0;
  for (let i = 0; i < repeats + 3; i++) {
    now += PERIOD_MS;
    d.ingest(batch, now);
  }
  // One member open among them; ticks inside a bucket whose sweep is done.
  d.ingest(
    { entries: [{ ...entry(ids[0]), success: 0, failure: 10, consecutive: 10, maxConsecutive: 10 }] },
    now,
  );
  let t = now;
  // Let the bucket's sweep (started by an ingest) finish first: this times the ticks between.
  for (let i = 0; i < 100 && (i === 0 || d.lastTickVisits > 1); i++) d.tick(t);
  const tickNs = nsPerCall(1, repeats, () => {
    t += 0.001;
    return d.tick(t).length;
  });
  const visits = d.lastTickVisits;
  // A whole forgettable sweep: every window expired, ticked until forgotten (fresh decider each time).
  const sweeps: number[] = [];
  const slices: number[] = [];
  for (let r = 0; r < repeats + 2; r++) {
    const s = new BreakerDecider(RULES, 30_000);
    s.ingest({ entries: ids.map(entry) }, 0);
    let at = 20_000;
    let whole = 0;
    const ticks: number[] = [];
    while (s.trackedMembers > 0) {
      const t0 = process.hrtime.bigint();
      s.tick(at++);
      const ns = Number(process.hrtime.bigint() - t0);
      whole += ns;
      ticks.push(ns);
    }
    // The first two passes warm the JIT up.
    if (r < 2) continue;
    sweeps.push(whole);
    // The typical slice (a loaded machine's longest one is its scheduler's).
    ticks.sort((a, b) => a - b);
    slices.push(ticks[ticks.length >> 1]);
  }
  sweeps.sort((a, b) => a - b);
  slices.sort((a, b) => a - b);
  // Health flush (one per debounce window with a flip): the guard over every member.
  const checker = new ActiveHealthChecker(
    {
      path: "/health",
      interval: 3_600_000,
      timeout: 1000,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      expectStatus: [{ from: 200, to: 399 }],
    },
    () => undefined,
    1,
  );
  const committed = ids.map((id, i) => ({ id, healthy: true, source: "static", port: 1 + (i % 4) }));
  checker.setMembers(committed.map((m) => ({ id: m.id, address: "127.0.0.1", port: m.port })));
  const flushOldNs = nsPerCall(1, repeats, () => {
    const observed = new Map<string, boolean>();
    for (const st of checker.states()) if (st.healthy !== undefined) observed.set(st.id, st.healthy);
    const input = committed.map((m) => ({
      id: m.id,
      committed: m.healthy,
      observed: m.source === "static" ? (observed.get(m.id) ?? m.healthy) : m.healthy,
    }));
    const g = guardHealth(input, 0.5);
    let changes = 0;
    for (let i = 0; i < input.length; i++) if (g.health[i] !== committed[i].healthy) changes++;
    return changes;
  });
  const flushNs = nsPerCall(1, repeats, () => {
    const g = guardCommitted(
      committed,
      (i) => {
        const m = committed[i];
        return m.source === "static" ? (checker.observedHealth(m.id) ?? m.healthy) : m.healthy;
      },
      0.5,
    );
    return g.changes.length;
  });
  checker.stop();
  return {
    flushOldUs: flushOldNs / 1000,
    flushUs: flushNs / 1000,
    size,
    drainUs: drainNs / 1000,
    ingestUs: ingestNs / 1000,
    ingestOldUs: ingestOldNs / 1000,
    tickOpenUs: tickNs / 1000,
    tickOpenVisits: visits,
    sweepUs: sweeps[sweeps.length >> 1] / 1000,
    sliceUs: slices[slices.length >> 1] / 1000,
  };
}

type RecorderClass = new () => OutcomeRecorder;

/**
 * A pass that records `records` outcomes over `size` members' slots (untimed) and returns the
 * ns its drain took; `records` 0: every member sees one outcome (arrival order random).
 */
function drainPass(Recorder: RecorderClass, size: number, records: number): () => number {
  const rec = new Recorder();
  const slots = Array.from({ length: size }, (_, i) => rec.slot("scale", `m${i}`));
  let x = 777;
  const rnd = () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x;
  };
  const order = slots.slice();
  for (let i = order.length - 1; i > 0; i--) {
    const j = rnd() % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const picks =
    records === 0
      ? Int32Array.from(order)
      : Int32Array.from({ length: records * 16 }, () => slots[rnd() % size]);
  const perPass = records === 0 ? size : records;
  let p = 0;
  return () => {
    for (let i = 0; i < perPass; i++) rec.recordStatus(picks[p++ % picks.length], 200);
    const t0 = process.hrtime.bigint();
    const n = rec.drain().entries.length;
    const ns = Number(process.hrtime.bigint() - t0);
    if (n === 0) throw new Error("drained nothing");
    return ns;
  };
}

/** Drain alone, us (median of `repeats` interleaved passes), per recorder class and size. */
function drainAlone(
  classes: readonly RecorderClass[],
  sizes: readonly number[],
  repeats: number,
): number[][][] {
  // [size][records: period, all][class]
  const passes = sizes.map((size) =>
    [PER_PERIOD, 0].map((records) => classes.map((C) => drainPass(C, size, records))),
  );
  const samples = passes.map((bySize) => bySize.map((byRecords) => byRecords.map((): number[] => [])));
  const warm = 5;
  for (let r = 0; r < warm + repeats * 3; r++)
    for (const [i, bySize] of passes.entries())
      for (const [j, byRecords] of bySize.entries())
        for (const [k, pass] of byRecords.entries()) {
          const ns = pass();
          if (r >= warm) samples[i][j][k].push(ns / 1000);
        }
  return samples.map((bySize) => bySize.map((byRecords) => byRecords.map(median)));
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { sizes: { type: "string" }, repeats: { type: "string" }, against: { type: "string" } },
  });
  const sizes = (values.sizes ?? "3,1000,10000").split(",").map(Number);
  const repeats = Number(values.repeats ?? 7);
  if (![...sizes, repeats].every((n) => Number.isInteger(n) && n >= 1)) {
    console.error(
      "usage: npm run bench -- scale-periodic [--sizes 3,1000,10000] [--repeats N] [--against DIR]",
    );
    return 2;
  }
  let other: RecorderClass | null = null;
  if (values.against !== undefined) {
    const file = resolve(values.against, "dist/health/outcome-recorder.js");
    try {
      const mod = (await import(file)) as { OutcomeRecorder?: unknown };
      if (typeof mod.OutcomeRecorder !== "function") throw new Error("it exports no OutcomeRecorder");
      other = mod.OutcomeRecorder as RecorderClass;
    } catch (err) {
      console.error(`--against ${values.against}: cannot load ${file}: ${(err as Error).message}`);
      return 2;
    }
  }
  const rows = sizes.map((s) => measure(s, repeats));
  const base = rows[0];
  console.log(
    `periodic work per 100 ms period at ${PER_PERIOD} requests per period (~${PER_PERIOD * 10} req/s), medians of ${repeats}; ratio to ${base.size} members`,
  );
  console.log(
    "members  drain us (x)      ingest us (x)     tick, 1 open: us, visits   sweep forgetting all: us, median tick us",
  );
  for (const r of rows)
    console.log(
      `${String(r.size).padEnd(8)} ${r.drainUs.toFixed(1).padStart(7)} (${(r.drainUs / base.drainUs).toFixed(2)}x) ${r.ingestUs.toFixed(1).padStart(8)} (${(r.ingestUs / base.ingestUs).toFixed(2)}x) ${r.tickOpenUs.toFixed(2).padStart(10)} ${String(r.tickOpenVisits).padStart(8)} ${r.sweepUs.toFixed(0).padStart(14)} ${r.sliceUs.toFixed(0).padStart(8)}`,
    );
  console.log("\nhealth flush (the panic guard over the pool, once per debounce window with a flip)");
  console.log(
    "members  before: states + map + guard inputs, us   now: observedHealth + guardCommitted, us   ratio",
  );
  for (const r of rows)
    console.log(
      `${String(r.size).padEnd(8)} ${r.flushOldUs.toFixed(1).padStart(46)} ${r.flushUs.toFixed(1).padStart(42)} ${(r.flushUs / r.flushOldUs).toFixed(2).padStart(7)}x`,
    );
  const classes: RecorderClass[] = other === null ? [OutcomeRecorder] : [other, OutcomeRecorder];
  const alone = drainAlone(classes, sizes, repeats);
  console.log(
    `\ndrain alone (recording untimed), us, median of ${repeats * 3} passes${other === null ? "" : `; ${values.against} / this build, interleaved`}`,
  );
  console.log(
    other === null
      ? "members  one period's traffic   every member active"
      : "members  one period: other  this  this/other   every member: other  this  this/other",
  );
  for (const [i, size] of sizes.entries()) {
    const [period, all] = alone[i];
    if (other === null)
      console.log(
        `${String(size).padEnd(8)} ${period[0].toFixed(1).padStart(20)} ${all[0].toFixed(1).padStart(21)}`,
      );
    else
      console.log(
        `${String(size).padEnd(8)} ${period[0].toFixed(1).padStart(17)} ${period[1].toFixed(1).padStart(5)} ${(period[1] / period[0]).toFixed(2).padStart(10)} ${all[0].toFixed(1).padStart(22)} ${all[1].toFixed(1).padStart(5)} ${(all[1] / all[0]).toFixed(2).padStart(10)}`,
      );
  }
  console.log(
    `\nleader ingest of one period's batch, us, median of ${repeats * 3} interleaved passes of ${PERIODS_PER_BUCKET} ingests`,
  );
  console.log("members  before: set probe + ingest   now: ingest with known   now/before");
  for (const r of rows)
    console.log(
      `${String(r.size).padEnd(8)} ${r.ingestOldUs.toFixed(1).padStart(29)} ${r.ingestUs.toFixed(1).padStart(24)} ${(r.ingestUs / r.ingestOldUs).toFixed(2).padStart(11)}x`,
    );
  console.log(`(checksum ${checksum()})`);
  return 0;
}

runIfMain(import.meta.url, run);
