// Request-path rows of the scale bench: the same shardgate build routing pools of 3, 1,000
// and 10,000 members (over the same nginx upstream), loaded with wrk in interleaved rounds so
// that machine noise hits every size alike. Per size: req/s, p99, RSS, and the GC share of the
// process's CPU time (from V8's --trace-gc lines in its log, gc-trace.ts), CPU time per request
// (what a loaded machine blurs least), and mark-compacts and scavenges per 10,000 requests.

import { join } from "node:path";
import { type Pinning, pinProcess, unpinProcess } from "../cpu-pinning.js";
import type { CpuSpeedProbe } from "../cpu-speed.js";
import { mergeLoads, RoundMeter } from "../machine-load.js";
import { cpuSeconds, rssBytes } from "../proxy-bench.js";
import {
  type GoalVerdict,
  type MethodOptions,
  pairVerdicts,
  RPS_P99_CPU,
  roundLine,
  runRounds,
  type Sample,
  verdictLines,
} from "../round-verdict.js";
import { GcTraceReader } from "./gc-trace.js";
import { checkLayout, type KeyLayout, keyLayout, layoutText } from "./key-layout.js";
import {
  median,
  runWrk,
  type Shardgate,
  startShardgate,
  type Upstream,
  upstreamAccepts,
} from "./processes.js";

/**
 * Node flags every measured shardgate runs with: the image's (Dockerfile ENTRYPOINT). V8
 * sizes the young generation at start-up and then grows and shrinks it by its own heuristics,
 * so without a floor, processes of one run ended up with young generations of different sizes:
 * 11 to 48 scavenges per 10,000 requests between the three sizes of one run, in no order of
 * pool size, and every scavenge stalls the requests in flight (which is what p99 sees).
 */
export const SHIPPED_NODE_FLAGS = ["--min-semi-space-size=16"] as const;

/**
 * Every size's measured round starts right after this much of the same load on the same
 * process. Without it, whether a round began with warm upstream connections depended on the
 * rotation: the rounds of the other sizes in between last longer than the upstream
 * keep-alive idle (4 s), so a size that ran right after its own previous round (or warm-up)
 * started warm and the others cold. With two sizes the 3-member pool started warm in two
 * rounds of three and the 1,000-member one in one: 64 against 143 upstream connects in one
 * run (a cold start is 55-67 connects on 4 nginx ports, a warm 5 s round 8-28). The first
 * scavenges after 10 s idle also paused 14-31 ms (promoting 0.4-1.4 MB) against 1-5 ms later.
 */
export const ROUND_WARMUP_SECONDS = 1;
export const ROUND_WARMUP_RULE = `every size alike: node ${SHIPPED_NODE_FLAGS.join(" ")} (as the image), each round right after ${ROUND_WARMUP_SECONDS} s of the same load on the same process`;

export interface RequestRowOptions {
  readonly sizes: readonly number[];
  readonly keySets: readonly number[];
  readonly seconds: number;
  readonly rounds: number;
  readonly connections: number;
  readonly seed: number;
  /**
   * How many of the upstream's addresses the members are spread over (member i on address
   * i mod n). 1: every size sends all its keys to one address, so every size has one upstream
   * connection pool carrying the whole load (key-layout.ts prints what each size gets).
   */
  readonly addresses: number;
  /** How rounds are ordered, flagged and re-run (round-verdict.ts). */
  readonly method: MethodOptions;
  /** Every size twice per round, A B C C B A (runRounds' `merge` says why); false: once. */
  readonly mirrored: boolean;
  /**
   * Every round on a fresh process per size (`--fresh on`, the default); false: one process per
   * size for the whole run. A process carries what it drew at start (JIT decisions, heap layout)
   * into every round it serves: in one run the 1,000-member process spent 54-59 us of CPU per
   * request in all 8 of its runs while the 3- and 10,000-member processes spent 42-49 on the same
   * 30 members' work. Fresh processes make that draw part of what the rounds sample.
   */
  readonly fresh: boolean;
  /** How fast the CPUs ran during each run (cpu-speed.ts); null = not measured. */
  readonly probe: CpuSpeedProbe | null;
  /**
   * `--pin on`: every size's shardgate on one CPU, nginx and wrk on the other, so each size
   * sees the same split of the two cores (unpinned, the scheduler's placement moved a process's
   * CPU per request by up to 20 % between rounds); null = the scheduler places them.
   */
  readonly pinning: Pinning | null;
  /** Prints every round, the disturbed ones and the verdicts. */
  readonly say: (line: string) => void;
}

/** The request targets of issue 16 per pool size, against the smallest size. */
export function sizeGoals(members: number) {
  return members >= 10_000 ? RPS_P99_CPU(0.9) : RPS_P99_CPU(0.95, 1.2);
}

/** A size's two runs of a mirrored round: means of the rates and shares, sums of the counts. */
function mergeSamples(a: SizeSample, b: SizeSample): SizeSample {
  const mean = (x: number, y: number) => (x + y) / 2;
  return {
    rps: mean(a.rps, b.rps),
    p99ms: mean(a.p99ms, b.p99ms),
    cpuUsPerReq: mean(a.cpuUsPerReq, b.cpuUsPerReq),
    load: mergeLoads(a.load, b.load),
    rss: b.rss,
    gc: mean(a.gc, b.gc),
    major: mean(a.major, b.major),
    minor: mean(a.minor, b.minor),
    majorMs: mean(a.majorMs, b.majorMs),
    connects: a.connects + b.connects,
    errors: a.errors + b.errors,
    busy: mean(a.busy, b.busy),
  };
}

interface SizeProcess {
  readonly sg: Shardgate;
  readonly gc: GcTraceReader;
}

interface SizeSample extends Sample {
  readonly rss: number;
  readonly gc: number;
  readonly major: number;
  readonly minor: number;
  readonly majorMs: number;
  readonly connects: number;
  readonly errors: number;
  /** Share of the round's wall time the proxy was on a CPU (near 1: the proxy is what limits). */
  readonly busy: number;
}

export interface RequestFigure {
  readonly members: number;
  readonly keys: number;
  readonly rps: number;
  readonly p99ms: number;
  readonly rssMb: number;
  readonly gcShare: number;
  /** Process CPU time per request, microseconds. */
  readonly cpuUs: number;
  /** Major (mark-compact) and minor (scavenge) collections per 10,000 requests. */
  readonly majorPer10k: number;
  readonly minorPer10k: number;
  /** Main-thread pause of mark-compacts per 10,000 requests, ms (what a bigger heap would make longer). */
  readonly majorMsPer10k: number;
  /** TCP connects the upstream accepted during the measured rounds (all rounds summed). */
  readonly connects: number;
  readonly errors: number;
  /** Median share of a round's wall time the proxy process was on a CPU. */
  readonly busy: number;
  /** Against the smallest size, round by round (empty for the smallest size itself). */
  readonly verdicts: readonly GoalVerdict[];
  /** Which members and upstream addresses the keys reach (checked against /admin/route). */
  readonly layout: KeyLayout;
}

export async function measureRequests(
  dir: string,
  upstream: Upstream,
  o: RequestRowOptions,
): Promise<RequestFigure[]> {
  if (o.addresses < 1 || o.addresses > upstream.addresses.length)
    throw new Error(`request rows: addresses must be 1-${upstream.addresses.length}, got ${o.addresses}`);
  const addresses = upstream.addresses.slice(0, o.addresses);
  const pin = o.pinning;
  const loadCpu = pin?.loadCpu;
  const live = new Map<number, SizeProcess>();
  let started = 0;
  /** A new process for `size`, warmed with `keys` (connections open, JIT warm) and its layout checked. */
  const start = async (size: number, keys: number): Promise<SizeProcess> => {
    const tag = `req-${size}-${started++}`;
    // GC from V8's own trace in the process log (gc-trace.ts says why not /metrics).
    const sg = await startShardgate(dir, tag, { members: size, algorithm: "ring" }, addresses, [
      "--trace-gc",
      ...SHIPPED_NODE_FLAGS,
    ]);
    const p = { sg, gc: new GcTraceReader(join(dir, `${tag}.log`)) };
    live.set(size, p);
    if (pin !== null) pinProcess(sg.pid, pin.proxyCpu);
    await runWrk(dir, sg.url, 2, o.connections, keys, o.seed, loadCpu);
    await checkLayout(sg.admin, keyLayout(size, keys, addresses.length), 30);
    return p;
  };
  const stopAll = async () => {
    for (const p of live.values()) await p.sg.stop().catch(() => undefined);
    live.clear();
  };
  if (pin !== null) pinProcess(upstream.pid, pin.loadCpu);
  try {
    const out: RequestFigure[] = [];
    const name = (size: number) => `${size} members`;
    for (const keys of o.keySets) {
      o.say(
        `request rows, ${keys} keys (${o.fresh ? "a fresh process per size every round" : "one process per size"}):`,
      );
      // What the upstream side sees per size: a row whose sizes differ here does not compare
      // like with like (30 keys on 4 addresses: 3 members use 3 of them, 1,000 members all 4).
      const layouts = new Map<number, KeyLayout>();
      for (const size of o.sizes) {
        const l = keyLayout(size, keys, addresses.length);
        layouts.set(size, l);
        o.say(`  ${size} members: keys reach ${layoutText(l)}`);
      }
      if (!o.fresh) {
        await stopAll();
        for (const size of o.sizes) await start(size, keys);
      }
      let liveRound = -1;
      const rounds = await runRounds<SizeSample>(
        o.sizes.map(name),
        o.rounds,
        o.method,
        undefined,
        async (n, r) => {
          const size = o.sizes[o.sizes.map(name).indexOf(n)];
          if (o.fresh && r !== liveRound) {
            // Every size's process started (and warmed) before the round's first run, as with
            // one process for the whole run; a re-run of a disturbed round gets new ones too.
            await stopAll();
            for (const s of o.sizes) await start(s, keys);
            liveRound = r;
          }
          const { sg, gc } = live.get(size) as SizeProcess;
          // The same warm-up for every size right before each round (ROUND_WARMUP_RULE).
          await runWrk(dir, sg.url, ROUND_WARMUP_SECONDS, o.connections, keys, o.seed + 1000 + r, loadCpu);
          const gc0 = gc.read();
          const accepts0 = await upstreamAccepts(upstream);
          const meter = new RoundMeter(o.probe);
          meter.start();
          const cpu0 = cpuSeconds(sg.pid);
          const t0 = performance.now();
          const w = await runWrk(dir, sg.url, o.seconds, o.connections, keys, o.seed + r, loadCpu);
          const cpu1 = cpuSeconds(sg.pid);
          const wallSeconds = (performance.now() - t0) / 1e3;
          const load = meter.stop();
          const connects = (await upstreamAccepts(upstream)) - accepts0 - 1;
          const gc1 = gc.read();
          const requests = w.rps * o.seconds;
          const per10k = (x: number) => (requests > 0 ? (x * 1e4) / requests : Number.NaN);
          const s: SizeSample = {
            rps: w.rps,
            p99ms: w.p99ms,
            cpuUsPerReq: requests > 0 ? ((cpu1 - cpu0) * 1e6) / requests : Number.NaN,
            load,
            rss: rssBytes(sg.pid) / 2 ** 20,
            gc: cpu1 > cpu0 ? (gc1.seconds - gc0.seconds) / (cpu1 - cpu0) : Number.NaN,
            major: per10k(gc1.major - gc0.major),
            minor: per10k(gc1.minor - gc0.minor),
            majorMs: per10k((gc1.majorSeconds - gc0.majorSeconds) * 1e3),
            connects,
            errors: w.errors,
            busy: (cpu1 - cpu0) / wallSeconds,
          };
          o.say(
            roundLine(r + 1, n, s, `  gc ${(100 * s.gc).toFixed(1)} %  busy ${(100 * s.busy).toFixed(0)} %`),
          );
          return s;
        },
        o.say,
        // The speed rule compares each size with the smallest, as the verdicts do.
        o.sizes.slice(1).map((size) => [name(size), name(o.sizes[0])] as const),
        o.mirrored ? mergeSamples : undefined,
      );
      const small = o.sizes[0];
      const verdicts = new Map<number, GoalVerdict[]>();
      for (const size of o.sizes.slice(1))
        verdicts.set(size, pairVerdicts(rounds, name(size), name(small), sizeGoals(size), o.method.minClean));
      for (const l of verdictLines(rounds, [...verdicts.values()].flat(), o.method, undefined)) o.say(l);
      for (const size of o.sizes) {
        const ss = rounds.flatMap((r) => {
          const x = r.samples.get(name(size));
          return x === undefined ? [] : [x];
        });
        const m = (f: (x: SizeSample) => number) => median(ss.map(f));
        out.push({
          members: size,
          keys,
          rps: m((x) => x.rps),
          p99ms: m((x) => x.p99ms),
          rssMb: m((x) => x.rss),
          gcShare: m((x) => x.gc),
          cpuUs: m((x) => x.cpuUsPerReq),
          majorPer10k: m((x) => x.major),
          minorPer10k: m((x) => x.minor),
          majorMsPer10k: m((x) => x.majorMs),
          connects: ss.reduce((a, x) => a + x.connects, 0),
          errors: ss.reduce((a, x) => a + x.errors, 0),
          busy: m((x) => x.busy),
          verdicts: verdicts.get(size) ?? [],
          layout: layouts.get(size) as KeyLayout,
        });
      }
    }
    return out;
  } finally {
    await stopAll();
    // The later sections' processes are placed by the scheduler again.
    if (pin !== null) unpinProcess(upstream.pid);
  }
}
