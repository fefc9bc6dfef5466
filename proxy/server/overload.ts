// Memory overload protection (Envoy's overload manager, in small): every buffer shardgate keeps
// is bounded on its own, but nothing bounds their sum, and many clients each doing something
// allowed (large uploads replayed for retries, big cacheable answers, h2 streams at window 0,
// thousands of keep-alives) can still push the process to its container's memory limit (the
// OOM killer) or V8's heap limit (an abort): every request in flight on it lost. Past a
// threshold the process sheds new work instead, and recovers by itself when memory falls.
//
// Levels: 0 normal; 1 "shed" (at shedAt of the budget): new requests are answered 503
// `overloaded` with Retry-After and idle keep-alive connections are closed once on entering;
// 2 "refuse" (at refuseAt): new connections are refused too. Requests already in flight go on.
//
// Sampling is a coarse unref'd timer (every 250 ms): process.memoryUsage() (RSS and V8's
// accounting), never a syscall per request; the listener reads one field (`level`) per request.
// The level rises at once and falls only below the threshold minus HYSTERESIS, so memory
// hovering at a threshold gives one episode (one log line in, one out), not a flapping state.

import { getHeapStatistics } from "node:v8";

export const OVERLOAD_NORMAL = 0;
export const OVERLOAD_SHED = 1;
export const OVERLOAD_REFUSE = 2;
export type OverloadLevel = 0 | 1 | 2;

/** How far under a threshold memory must fall to leave its level (fraction of the budget). */
export const HYSTERESIS = 0.05;
export const SAMPLE_INTERVAL_MS = 250;
/** While over a threshold, a collection every this many samples (once a second at 250 ms). */
export const COLLECT_EVERY = 4;
/**
 * The most of the time forced collections may take: the next one waits for (1 / share - 1)
 * times the last one's pause. A full collection blocks the process for as long as its heap
 * takes to mark (measured: 0.3 s at 180 MB, 2 s at 740 MB of small objects on a loaded 2-core
 * machine); once a second regardless, an overloaded big heap spent two thirds of its time in
 * them, starving the requests in flight and the liveness probe.
 */
export const MAX_COLLECT_SHARE = 0.1;

export interface MemorySample {
  /**
   * Resident set size of the process (bytes); Infinity when it could not be read (the
   * process is out of descriptors: reading RSS opens /proc/self/stat): V8's accounting decides.
   */
  rss: number;
  /**
   * V8's heap: the pages it has touched (committed pages it has not written yet are not in the
   * RSS), in use, and V8's limit on it (bytes).
   */
  heapResident: number;
  heapUsed: number;
  heapLimit: number;
  /** Memory outside V8's heap that V8 accounts for: Buffers, ArrayBuffers (bytes). */
  external: number;
}

export interface OverloadOptions {
  /** The resident-set budget (bytes), or null: only V8's heap is watched (its own limit). */
  rssLimit: number | null;
  shedAt: number;
  refuseAt: number;
  /** Reads memory (tests inject one); default: process.memoryUsage() and V8's heap limit. */
  sample?: () => MemorySample;
  intervalMs?: number;
  /**
   * A full garbage collection (heap-shrink.ts), run while over a threshold at most every
   * COLLECT_EVERY samples, so memory already let go is seen as free; absent = none.
   */
  collect?: () => void;
  /**
   * Memory the process holds that neither V8's accounting nor the RSS at the first sample shows
   * and that grows with load (bytes): an estimate for the listener's open connections (OpenSSL,
   * libuv, nghttp2: connection-memory.ts, tls-memory.ts), read at every sample; absent = none.
   */
  unaccounted?: () => number;
  /** A monotonic clock in ms (tests inject one); default performance.now(). */
  now?: () => number;
  /** The level changed; `usage` is the fraction of the budget that decided it. */
  onChange?: (level: OverloadLevel, previous: OverloadLevel, usage: number, sample: MemorySample) => void;
}

export class OverloadGuard {
  /** Read per request by the listener: a field, no call. */
  level: OverloadLevel = OVERLOAD_NORMAL;
  /** The last sampled fraction of the budget in use (the larger of held memory and V8 heap). */
  usage = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Samples since the last collection while over a threshold. */
  private sinceCollect = 0;
  /** RSS beyond V8's resident heap and external memory at the first sample; -1 before it. */
  private native = -1;
  private readonly sample: () => MemorySample;
  private readonly now: () => number;
  /** When the last forced collection ended and how long it took (ms). */
  private collectEnd = Number.NEGATIVE_INFINITY;
  private collectMs = 0;
  private rssLimit: number | null;

  constructor(private readonly opts: OverloadOptions) {
    this.rssLimit = opts.rssLimit;
    this.sample = opts.sample ?? readMemory;
    this.now = opts.now ?? (() => performance.now());
  }

  start(): void {
    if (this.timer !== null) return;
    this.check();
    this.timer = setInterval(() => this.check(), this.opts.intervalMs ?? SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** A budget measured again (the primary of workers: N, once its Raft state is loaded); from the next sample on. */
  setRssLimit(bytes: number | null): void {
    this.rssLimit = bytes;
  }

  /** One sample and the level it gives (the timer's tick; tests call it directly). */
  check(): OverloadLevel {
    const s = this.sample();
    // V8's heap counts as the pages it has touched (total_physical_size), not as committed. V8
    // commits its young generation (new space) ahead of use and doubles it (16 to 32 MB) in the
    // first seconds: counted as committed, a first sample taken before that growth read the
    // untouched part as held for the process's life (held 113 MB of 140 after a TLS flood was gone,
    // over the 112 MB it needs to fall under: the episode never ended). Left out instead, it went
    // missing under load, which touches all of it (measured: the RSS grew 36 MB, 31 of them the
    // young generation, the guard read 0.7; 136 and 127 MB with --max-semi-space-size=64).
    // Memory the process's own code holds beside V8's accounting (code, libuv, OpenSSL), fixed at
    // the first sample.
    if (this.native < 0 && Number.isFinite(s.rss))
      this.native = Math.max(0, s.rss - s.heapResident - s.external);
    const heap = s.heapLimit > 0 ? s.heapUsed / s.heapLimit : 0;
    // RSS alone never falls back: freed Buffers stay in the allocator's pages (measured: 200
    // uploads held raised RSS from 107 to 164 MB, and it stayed there after they were gone), so
    // an episode would never end. V8's accounting falls as soon as they are freed; the smaller
    // of the two is what the process really holds (pages it freed are reused before it grows).
    // What open connections hold in C++ (OpenSSL, libuv, nghttp2) is in the RSS but not in V8's
    // accounting: an estimate per connection stands for it (connection-memory.ts).
    const accounted =
      Math.max(0, this.native) + s.heapResident + s.external + (this.opts.unaccounted?.() ?? 0);
    const held = Math.min(s.rss, accounted);
    const rss = this.rssLimit !== null && this.rssLimit > 0 ? held / this.rssLimit : 0;
    const usage = Math.max(heap, rss);
    this.usage = usage;
    const previous = this.level;
    const next = levelFor(usage, previous, this.opts.shedAt, this.opts.refuseAt);
    if (next !== previous) {
      this.level = next;
      this.opts.onChange?.(next, previous, usage, s);
    }
    // Over a threshold, garbage counts as held until a collection runs, and the shed process
    // allocates too little to trigger one: it would stay overloaded with its memory free.
    if (next === OVERLOAD_NORMAL) this.sinceCollect = 0;
    else if (this.opts.collect !== undefined && ++this.sinceCollect >= COLLECT_EVERY) {
      const start = this.now();
      if (start - this.collectEnd < this.collectMs * (1 / MAX_COLLECT_SHARE - 1)) return next;
      this.sinceCollect = 0;
      this.opts.collect();
      this.collectEnd = this.now();
      this.collectMs = this.collectEnd - start;
    }
    return next;
  }
}

/** The level for `usage` coming from `previous`: up at a threshold, down only below it minus HYSTERESIS. */
export function levelFor(
  usage: number,
  previous: OverloadLevel,
  shedAt: number,
  refuseAt: number,
): OverloadLevel {
  if (usage >= refuseAt) return OVERLOAD_REFUSE;
  if (previous === OVERLOAD_REFUSE && usage >= refuseAt - HYSTERESIS) return OVERLOAD_REFUSE;
  if (usage >= shedAt) return OVERLOAD_SHED;
  if (previous !== OVERLOAD_NORMAL && usage >= shedAt - HYSTERESIS) return OVERLOAD_SHED;
  return OVERLOAD_NORMAL;
}

/** V8's heap limit is fixed for the process's life (--max-old-space-size): read once. */
let heapLimit = 0;

export function readMemory(): MemorySample {
  const h = getHeapStatistics();
  if (heapLimit === 0) heapLimit = h.heap_size_limit;
  let rss = Number.POSITIVE_INFINITY;
  try {
    // Opens /proc/self/stat: at the descriptor limit it throws EMFILE, and a throw in the
    // sampling timer would take the whole process down at the moment it is already short.
    rss = process.memoryUsage.rss();
  } catch {
    // RSS unknown this time: V8's accounting below decides.
  }
  return {
    rss,
    heapResident: h.total_physical_size,
    heapUsed: h.used_heap_size,
    heapLimit,
    external: h.external_memory,
  };
}
