// Control-plane rows of the scale bench: one member's drain (and undrain) until /admin/route
// shows it, at a small and a large pool, ring hash and Maglev; and a reload that adds one
// member until the reload call answers (it answers once the change is committed and applied),
// plus the process's RSS over repeated reloads of the large pool.

import { cpuSeconds, rssBytes } from "../proxy-bench.js";
import {
  ADMIN_TOKEN,
  median,
  memberId,
  metricValue,
  type Shardgate,
  startShardgate,
  type Upstream,
} from "./processes.js";

interface RouteView {
  owner: string | null;
  member: string | null;
  skipped: Array<{ id: string; reason: string }>;
}

async function route(sg: Shardgate, key: string): Promise<RouteView> {
  const res = await fetch(`${sg.admin}/admin/route?pool=scale&key=${encodeURIComponent(key)}`);
  return (await res.json()) as RouteView;
}

async function post(sg: Shardgate, path: string): Promise<void> {
  const res = await fetch(`${sg.admin}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${path}: HTTP ${res.status} ${text}`);
}

/** Polls /admin/route (back to back) until `pred` holds; ms since `t0`. */
async function until(
  sg: Shardgate,
  key: string,
  pred: (r: RouteView) => boolean,
  t0: number,
): Promise<number> {
  const deadline = t0 + 30_000;
  while (performance.now() < deadline) {
    if (pred(await route(sg, key))) return performance.now() - t0;
  }
  throw new Error(`route for ${key} did not change within 30 s`);
}

export interface DrainFigure {
  readonly members: number;
  readonly algorithm: "ring" | "maglev";
  /** Median ms from the drain request to /admin/route skipping the member (drain and undrain alike). */
  readonly ms: number;
  /**
   * shardgate's own CPU ms per drain or undrain (commit, apply, route swap, reply), from a
   * batch without polling: what grows with the pool, and what a loaded machine does not blur.
   */
  readonly cpuMsPerChange: number;
}

/** Drain/undrain pairs in the CPU batch (the kernel counts CPU in 10 ms ticks). */
const CPU_BATCH_PAIRS = 40;

export async function measureDrain(
  dir: string,
  upstream: Upstream,
  sizes: readonly number[],
  repeats: number,
): Promise<DrainFigure[]> {
  const out: DrainFigure[] = [];
  for (const algorithm of ["ring", "maglev"] as const) {
    for (const size of sizes) {
      const sg = await startShardgate(
        dir,
        `drain-${algorithm}-${size}`,
        { members: size, algorithm },
        upstream.addresses,
      );
      try {
        const key = "drain-probe-key";
        const owner = (await route(sg, key)).owner;
        if (owner === null) throw new Error("no owner");
        const samples: number[] = [];
        for (let r = 0; r < repeats; r++) {
          let t0 = performance.now();
          await post(sg, `/admin/pools/scale/members/${owner}/drain`);
          samples.push(await until(sg, key, (v) => v.member !== owner, t0));
          t0 = performance.now();
          await post(sg, `/admin/pools/scale/members/${owner}/undrain`);
          samples.push(await until(sg, key, (v) => v.member === owner, t0));
        }
        const cpu0 = cpuSeconds(sg.pid);
        for (let r = 0; r < CPU_BATCH_PAIRS; r++) {
          await post(sg, `/admin/pools/scale/members/${owner}/drain`);
          await post(sg, `/admin/pools/scale/members/${owner}/undrain`);
        }
        const cpuMsPerChange = ((cpuSeconds(sg.pid) - cpu0) * 1000) / (2 * CPU_BATCH_PAIRS);
        out.push({ members: size, algorithm, ms: median(samples), cpuMsPerChange });
      } finally {
        await sg.stop();
      }
    }
  }
  return out;
}

export interface ReloadFigure {
  readonly members: number;
  /** Median ms of POST /admin/reload adding (then removing) one member. */
  readonly ms: number;
  /**
   * Median CPU ms the proxy process (all threads) spent per reload: what a reload costs,
   * much less sensitive than the wall time to other load on a shared machine.
   */
  readonly cpuMs: number;
}

/** What the process's memory is made of at an RSS sample, from its own /metrics (MB). */
export interface MemoryParts {
  /** V8 heap committed (heap total). */
  readonly heap: number;
  /** Memory outside the V8 heap that V8 accounts for: mostly ArrayBuffers (rings). */
  readonly external: number;
  /** RSS minus those two: code, the load worker, and what malloc keeps resident. */
  readonly other: number;
  /** Mark-compacts (major GCs) of the main thread so far. */
  readonly majorGcs: number;
}

/** One /metrics scrape's memory figures, then `sample()` (the RSS in MB they go with). */
async function memoryParts(sg: Shardgate, sample: () => number): Promise<MemoryParts & { rss: number }> {
  const text = await (await fetch(`${sg.admin}/metrics`)).text();
  const rss = sample();
  const mb = (name: string) => metricValue(text, name) / 2 ** 20;
  const heap = mb("shardgate_nodejs_heap_size_total_bytes");
  const external = mb("shardgate_nodejs_external_memory_bytes");
  const major = /^shardgate_nodejs_gc_duration_seconds_count\{[^}]*kind="major"[^}]*\} (\d+)$/m.exec(text);
  return {
    rss,
    heap,
    external,
    other: rss - heap - external,
    majorGcs: major === null ? 0 : Number(major[1]),
  };
}

export interface ReloadRss {
  readonly members: number;
  readonly afterFive: number;
  readonly afterAll: number;
  /** The memory's parts at the RSS samples after reload 5 (scraped just before) and the last (just after). */
  readonly partsAfterFive: MemoryParts;
  readonly partsAfterAll: MemoryParts;
  /** Highest RSS sampled after any reload from the sixth on (the sawtooth's top). */
  readonly max: number;
  readonly reloads: number;
  /** Median ms of the reloads after the first five: a warm process, no cold code or worker start. */
  readonly warmMs: number;
}

/**
 * What each reload changes: one member added or removed in a file of one-line flow members
 * ("flow") or of three-line block members ("block"), both taken by the incremental load; or,
 * in a flow file, the same member plus a comment line at the top ("outside"), which the
 * incremental load declines, so that reload is a full load of the file.
 */
export type ReloadVariant = "flow" | "block" | "outside";

export async function measureReload(
  dir: string,
  upstream: Upstream,
  sizes: readonly number[],
  repeats: number,
  rssReloads: number,
  variant: ReloadVariant = "flow",
): Promise<{ times: ReloadFigure[]; rss: ReloadRss | null }> {
  const times: ReloadFigure[] = [];
  let rss: ReloadRss | null = null;
  for (const size of sizes) {
    const sg = await startShardgate(
      dir,
      `reload-${variant}-${size}`,
      { members: size, algorithm: "ring", style: variant === "block" ? "block" : "flow" },
      upstream.addresses,
    );
    try {
      const samples: number[] = [];
      const cpu: number[] = [];
      const reloadOnce = async (extra: number): Promise<number> => {
        sg.rewrite({
          members: size,
          algorithm: "ring",
          extra,
          style: variant === "block" ? "block" : "flow",
          header: variant === "outside" ? `reload ${cpu.length}` : undefined,
        });
        const c0 = cpuSeconds(sg.pid);
        const t0 = performance.now();
        await post(sg, "/admin/reload");
        const ms = performance.now() - t0;
        cpu.push(1000 * (cpuSeconds(sg.pid) - c0));
        return ms;
      };
      for (let r = 0; r < repeats; r++) {
        samples.push(await reloadOnce(1));
        samples.push(await reloadOnce(0));
      }
      // The added member really is routed to after the reload (not only acknowledged).
      await reloadOnce(1);
      const added = memberId(size);
      const state = await (await fetch(`${sg.admin}/admin/state`)).text();
      if (!state.includes(`"${added}"`)) throw new Error(`reload did not add ${added}`);
      await reloadOnce(0);
      times.push({ members: size, ms: median(samples), cpuMs: median(cpu.slice(0, samples.length)) });
      if (size === sizes[sizes.length - 1] && rssReloads > 5) {
        let afterFive = 0;
        let max = 0;
        let partsAfterFive: MemoryParts | null = null;
        const warm: number[] = [];
        for (let r = 1; r <= rssReloads; r++) {
          const ms = await reloadOnce(r % 2);
          const rssMb = () => rssBytes(sg.pid) / 2 ** 20;
          // The scrape at 5 comes before its sample: at 5,000 members it is 1.2 MB of text, and
          // 1-2 MB of its garbage reaches old space, where it stays until a mark-compact (none
          // in most runs). Read after the sample, it was in every later sample but not in that
          // one: the bench's own scrape counted as growth over the reloads.
          const parts = r === 5 ? await memoryParts(sg, rssMb) : null;
          const mb = parts?.rss ?? rssMb();
          if (parts !== null) {
            afterFive = mb;
            partsAfterFive = parts;
          }
          if (r > 5) {
            warm.push(ms);
            max = Math.max(max, mb);
          }
        }
        const afterAll = rssBytes(sg.pid) / 2 ** 20;
        // Read after the last sample: nothing is sampled after it.
        const partsAfterAll = await memoryParts(sg, () => afterAll);
        rss = {
          members: size,
          afterFive,
          afterAll,
          partsAfterFive: partsAfterFive as MemoryParts,
          partsAfterAll,
          max,
          reloads: rssReloads,
          warmMs: median(warm),
        };
      }
    } finally {
      await sg.stop();
    }
  }
  return { times, rss };
}
