// /metrics rows of the scale bench: one scrape of a shardgate whose members have seen traffic,
// at 3 members (the peer), 1,000 and 10,000, in one run. Per size: the scrape's wall time and
// bytes, the longest event-loop stall while it was served (V8's event-loop delay as shardgate's
// own shardgate_nodejs_eventloop_lag_max_seconds reports it: prom-client resets that maximum at
// every collect, so the next scrape reads the maximum over the previous one; it samples every
// 100 ms, so stalls shorter than that read as 0), the slowest proxied request of a stream sent
// one after another during the scrape (and the same stream's with no scrape: the machine's
// noise), and RSS after the scrapes. Medians over --rounds scrapes per size. "on" forces per-member histograms (the worst case); "auto" is the default.

import { rssBytes } from "../proxy-bench.js";
import {
  KEY_HEADER,
  median,
  metricValue,
  runWrk,
  type Shardgate,
  startShardgate,
  type Upstream,
} from "./processes.js";

export interface MetricsRowOptions {
  readonly sizes: readonly number[];
  readonly scrapes: number;
  readonly seconds: number;
  readonly connections: number;
  readonly seed: number;
}

export interface MetricsFigure {
  readonly members: number;
  readonly mode: "on" | "auto";
  /** Members with a shardgate_requests_total series (members that saw traffic). */
  readonly membersWithTraffic: number;
  readonly lines: number;
  readonly bytes: number;
  readonly scrapeMs: number;
  /** Longest event-loop delay inside shardgate during a scrape (its own lag_max), ms. */
  readonly loopStallMs: number;
  /** Slowest proxied request of the concurrent stream during a scrape, ms. */
  readonly requestMaxMs: number;
  /** The same stream's slowest request with no scrape running, ms. */
  readonly requestMaxIdleMs: number;
  readonly rssMb: number;
}

const LAG_MAX = "shardgate_nodejs_eventloop_lag_max_seconds";
const LAG_RESOLUTION_MS = 100;

/** Sends proxied requests one after another until `stop()`; resolves the slowest's time in ms. */
function requestStream(url: string): { stop: () => Promise<number> } {
  let running = true;
  let worst = 0;
  let i = 0;
  const loop = (async () => {
    // Bounded: at most 100,000 requests, and only while the scrape runs.
    while (running && i < 100_000) {
      const t0 = performance.now();
      const r = await fetch(url, { headers: { [KEY_HEADER]: `probe${i++ % 64}` } });
      await r.arrayBuffer();
      worst = Math.max(worst, performance.now() - t0);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return worst;
    },
  };
}

async function scrape(sg: Shardgate): Promise<{ text: string; ms: number }> {
  const t0 = performance.now();
  const text = await (await fetch(`${sg.admin}/metrics`)).text();
  return { text, ms: performance.now() - t0 };
}

export async function measureMetrics(
  dir: string,
  upstream: Upstream,
  o: MetricsRowOptions,
): Promise<MetricsFigure[]> {
  const out: MetricsFigure[] = [];
  for (const mode of ["on", "auto"] as const) {
    const procs: Array<{ size: number; sg: Shardgate }> = [];
    try {
      for (const size of o.sizes)
        procs.push({
          size,
          sg: await startShardgate(
            dir,
            `metrics-${mode}-${size}`,
            { members: size, algorithm: "ring", memberHistograms: mode },
            upstream.addresses,
          ),
        });
      // Traffic over 4x as many keys as members, so (nearly) every member has served requests.
      for (const { size, sg } of procs) await runWrk(dir, sg.url, o.seconds, o.connections, 4 * size, o.seed);
      const samples = new Map<number, { ms: number[]; lag: number[]; req: number[]; idle: number[] }>();
      for (const { size } of procs) samples.set(size, { ms: [], lag: [], req: [], idle: [] });
      const last = new Map<number, string>();
      for (const { sg } of procs) await scrape(sg); // resets lag_max before the first timed scrape
      for (let r = 0; r < o.scrapes; r++) {
        for (let k = 0; k < procs.length; k++) {
          const { size, sg } = procs[(k + r) % procs.length];
          const s = samples.get(size);
          if (s === undefined) continue;
          const idle = requestStream(sg.url);
          await new Promise((resolve) => setTimeout(resolve, 300));
          s.idle.push(await idle.stop());
          await scrape(sg); // lag_max since here covers the timed scrape only
          const stream = requestStream(sg.url);
          const timed = await scrape(sg);
          s.req.push(await stream.stop());
          s.ms.push(timed.ms);
          const next = await scrape(sg);
          // The histogram behind lag_max samples every 100 ms (registry.ts) and records the
          // whole interval between its timer's runs: the stall is what exceeds the 100 ms.
          s.lag.push(Math.max(0, metricValue(next.text, LAG_MAX) * 1000 - LAG_RESOLUTION_MS));
          last.set(size, timed.text);
        }
      }
      for (const { size, sg } of procs) {
        const s = samples.get(size);
        const text = last.get(size) ?? "";
        if (s === undefined) continue;
        const traffic = new Set<string>();
        for (const m of text.matchAll(/^shardgate_requests_total\{[^}]*pool="scale",member="([^"]+)"/gm))
          traffic.add(m[1]);
        traffic.delete("none");
        out.push({
          members: size,
          mode,
          membersWithTraffic: traffic.size,
          lines: text.split("\n").length - 1,
          bytes: Buffer.byteLength(text),
          scrapeMs: median(s.ms),
          // Medians over the scrapes of each scrape's worst: one descheduling of a loaded
          // machine moves a single scrape's figure, not the median.
          loopStallMs: median(s.lag),
          requestMaxMs: median(s.req),
          requestMaxIdleMs: median(s.idle),
          rssMb: rssBytes(sg.pid) / 2 ** 20,
        });
      }
    } finally {
      for (const p of procs) await p.sg.stop().catch(() => undefined);
    }
  }
  return out;
}
