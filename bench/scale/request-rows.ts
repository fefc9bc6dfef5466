// Request-path rows of the scale bench: the same shardgate build routing pools of 3, 1,000
// and 10,000 members (over the same nginx upstream), loaded with wrk in interleaved rounds so
// that machine noise hits every size alike. Per size: req/s, p99, RSS, and the GC share of the
// process's CPU time (from V8's --trace-gc lines in its log, gc-trace.ts), CPU time per request
// (what a loaded machine blurs least), and mark-compacts and scavenges per 10,000 requests.

import { join } from "node:path";
import { cpuSeconds, rssBytes } from "../proxy-bench.js";
import { GcTraceReader } from "./gc-trace.js";
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
}

export async function measureRequests(
  dir: string,
  upstream: Upstream,
  o: RequestRowOptions,
): Promise<RequestFigure[]> {
  const procs: Array<{ size: number; sg: Shardgate; gc: GcTraceReader }> = [];
  try {
    for (const size of o.sizes)
      procs.push({
        size,
        // GC from V8's own trace in the process log (gc-trace.ts says why not /metrics).
        sg: await startShardgate(
          dir,
          `req-${size}`,
          { members: size, algorithm: "ring" },
          upstream.addresses,
          ["--trace-gc", ...SHIPPED_NODE_FLAGS],
        ),
        gc: new GcTraceReader(join(dir, `req-${size}.log`)),
      });
    const out: RequestFigure[] = [];
    for (const keys of o.keySets) {
      const samples = new Map<
        number,
        {
          rps: number[];
          p99: number[];
          rss: number[];
          gc: number[];
          cpu: number[];
          major: number[];
          minor: number[];
          majorMs: number[];
          connects: number;
          err: number;
        }
      >();
      for (const { size, sg } of procs) {
        samples.set(size, {
          rps: [],
          p99: [],
          rss: [],
          gc: [],
          cpu: [],
          major: [],
          minor: [],
          majorMs: [],
          connects: 0,
          err: 0,
        });
        // Warm-up: connections to members opened, JIT warm, before anything counts.
        await runWrk(dir, sg.url, 2, o.connections, keys, o.seed);
      }
      for (let r = 0; r < o.rounds; r++) {
        // Rotate the order each round so no size always runs first or last.
        for (let k = 0; k < procs.length; k++) {
          const { size, sg, gc } = procs[(k + r) % procs.length];
          const s = samples.get(size);
          if (s === undefined) continue;
          // The same warm-up for every size right before each round (ROUND_WARMUP_RULE).
          await runWrk(dir, sg.url, ROUND_WARMUP_SECONDS, o.connections, keys, o.seed + 1000 + r);
          const gc0 = gc.read();
          const accepts0 = await upstreamAccepts(upstream);
          const cpu0 = cpuSeconds(sg.pid);
          const w = await runWrk(dir, sg.url, o.seconds, o.connections, keys, o.seed + r);
          const cpu1 = cpuSeconds(sg.pid);
          s.connects += (await upstreamAccepts(upstream)) - accepts0 - 1;
          const gc1 = gc.read();
          const requests = w.rps * o.seconds;
          s.rps.push(w.rps);
          s.p99.push(w.p99ms);
          s.rss.push(rssBytes(sg.pid) / 2 ** 20);
          s.gc.push(cpu1 > cpu0 ? (gc1.seconds - gc0.seconds) / (cpu1 - cpu0) : Number.NaN);
          s.cpu.push(requests > 0 ? ((cpu1 - cpu0) * 1e6) / requests : Number.NaN);
          s.major.push(requests > 0 ? ((gc1.major - gc0.major) * 1e4) / requests : Number.NaN);
          s.minor.push(requests > 0 ? ((gc1.minor - gc0.minor) * 1e4) / requests : Number.NaN);
          s.majorMs.push(
            requests > 0 ? ((gc1.majorSeconds - gc0.majorSeconds) * 1e7) / requests : Number.NaN,
          );
          s.err += w.errors;
        }
      }
      for (const { size } of procs) {
        const s = samples.get(size);
        if (s === undefined) continue;
        out.push({
          members: size,
          keys,
          rps: median(s.rps),
          p99ms: median(s.p99),
          rssMb: median(s.rss),
          gcShare: median(s.gc),
          cpuUs: median(s.cpu),
          majorPer10k: median(s.major),
          minorPer10k: median(s.minor),
          majorMsPer10k: median(s.majorMs),
          connects: s.connects,
          errors: s.err,
        });
      }
    }
    return out;
  } finally {
    for (const p of procs) await p.sg.stop().catch(() => undefined);
  }
}
