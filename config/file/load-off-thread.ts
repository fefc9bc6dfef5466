// Loading a config file in a worker thread, for a running instance: YAML parsing and schema
// validation cost CPU that grows with the file, and on the event loop that time stalls every
// proxied request (a deeply nested file froze traffic for seconds during a reload). The text
// limits (text-limits.ts) refuse absurd files early; the worker keeps whatever remains off the
// request path, with its own heap cap and a deadline.
//
// One worker serves a burst of loads and stays while they come (unref'd, so it never holds
// the process open): a fresh worker per reload paid thread start, module loading and cold,
// unoptimised parsing each time (about 1 s of a 5,000-member reload on a busy machine, against
// tens of ms warm). After `idleMs` without a load it is closed, so an instance that reloads
// rarely does not carry the worker's heap (tens of MB after a big file). A worker that times
// out, crashes or runs out of heap is terminated and the next load starts a new one.

import { Worker } from "node:worker_threads";
import type { ConfigError } from "./config-error.js";
import type { ConfigResult } from "./load.js";
import type { HandoverRequest, LoadRequest, LoadResponse, SeedRequest } from "./load-worker.js";
import { applyMembersDelta } from "./members-delta.js";
import type { ShardgateConfig } from "./schema.js";

const WORKER = new URL(
  import.meta.url.endsWith(".ts") ? "./load-worker.ts" : "./load-worker.js",
  import.meta.url,
);

/** How long a closing worker may take to hand its last text over. */
const HANDOVER_MS = 2_000;

/** The worker's young generation cap in MB (V8 splits it into semispaces). */
const WORKER_YOUNG_MB = 6;

export interface OffThreadOptions {
  /** Give up after this long (default 30 s): the answer is an error, the running config stays. */
  timeoutMs?: number;
  /** Heap cap of the worker in MB (default 512). */
  maxHeapMb?: number;
  /** Close the worker after this long without a load (default 10 s). */
  idleMs?: number;
}

function failure(found: string, message: string): ConfigResult {
  const e: ConfigError = { path: "", expected: "a loadable config", found, message };
  return { ok: false, errors: [e] };
}

interface Pending {
  readonly id: number;
  readonly path: string;
  readonly env: NodeJS.ProcessEnv;
  readonly resolve: (r: ConfigResult) => void;
}

type Seed = SeedRequest["seed"];

/**
 * The last valid file text this process loaded and its config (start, or the last valid load
 * of a worker that closed when idle, handed over then): a new worker gets it first, so its
 * first reload can be incremental too (a worker closed when idle would otherwise parse a
 * 5,000-member file in full on the next reload). A worker killed (timeout, crash) hands
 * nothing over: the next one starts from an older seed, a consistent pair all the same.
 */
let seed: Seed | null = null;

/** Records a valid load made elsewhere (the start's inline load) as the next worker's seed. */
export function seedConfigLoads(
  path: string,
  env: NodeJS.ProcessEnv,
  text: string,
  config: ShardgateConfig,
): void {
  seed = { path, env: { ...env }, text, config };
}

/** The long-lived worker and the one load it is running (loads are queued, one at a time). */
class LoadWorker {
  private readonly worker: Worker;
  private pending: Pending | null = null;
  /** The last valid config the worker answered: the base of its next delta. */
  private last: { id: number; config: ShardgateConfig } | null = null;
  /** The path and env of the last valid load (the seed's, first): with `last`, the next seed. */
  private lastFrom: { path: string; env: NodeJS.ProcessEnv } | null = null;
  /** Waiting for the worker's handover answer (retire). */
  private handedOver: ((h: { id: number; text: string } | null) => void) | null = null;
  private nextId = 1;
  dead = false;

  constructor(
    readonly maxHeapMb: number,
    start: Seed | null,
  ) {
    this.worker = new Worker(WORKER, {
      // A small young generation: V8 grew this worker's to 16 MB semispaces over a burst of
      // reloads (about 50 MB committed for 10 MB live), RSS the process kept while the worker
      // stayed up; an incremental reload allocates well under 1 MB here, and a full load only
      // runs more scavenges with it.
      resourceLimits: { maxOldGenerationSizeMb: maxHeapMb, maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
      stdout: false,
      stderr: false,
    });
    this.worker.on("message", (m: LoadResponse) => this.received(m));
    this.worker.once("error", (err: Error) =>
      this.kill(failure(err.message, `config load failed: ${err.message}`)),
    );
    this.worker.once("exit", (code) =>
      this.kill(failure(`exit ${code}`, `config load worker exited (${code})`)),
    );
    // After the listeners: adding a "message" listener refs the worker's port again.
    this.worker.unref();
    if (start !== null) {
      this.worker.postMessage({ seed: start } satisfies SeedRequest);
      this.last = { id: 0, config: start.config };
      this.lastFrom = { path: start.path, env: start.env };
    }
  }

  /**
   * Closes this idle worker after asking it for the text of its last valid load, which seeds
   * the next worker (with the config kept here for it). No answer within `timeoutMs`: closed
   * all the same, the seed stays as it was.
   */
  async retire(timeoutMs: number): Promise<void> {
    if (!this.dead && this.last !== null && this.lastFrom !== null) {
      const got = await new Promise<{ id: number; text: string } | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), timeoutMs);
        timer.unref();
        this.handedOver = (h) => {
          clearTimeout(timer);
          resolve(h);
        };
        this.worker.postMessage({ handover: true } satisfies HandoverRequest);
      });
      this.handedOver = null;
      const last = this.last;
      const from = this.lastFrom;
      if (got !== null && last !== null && from !== null && got.id === last.id)
        seed = { path: from.path, env: from.env, text: got.text, config: last.config };
    }
    this.close();
  }

  load(path: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ConfigResult> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      const timer = setTimeout(
        () =>
          this.kill(failure(`over ${timeoutMs} ms`, `config load took longer than ${timeoutMs} ms; refused`)),
        timeoutMs,
      );
      const copy = { ...env };
      this.pending = {
        id,
        path,
        env: copy,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const req: LoadRequest = { id, path, env: copy };
      this.worker.postMessage(req);
    });
  }

  /**
   * An answer: a whole result, or a delta against the config of an earlier answer (rebuilt
   * here; members-delta.ts). Every valid config is kept as the base of the next delta.
   */
  private received(m: LoadResponse): void {
    if ("handover" in m) {
      this.handedOver?.(m.handover);
      return;
    }
    let r: ConfigResult;
    if ("result" in m) r = m.result;
    else {
      const rebuilt =
        this.last !== null && this.last.id === m.base
          ? applyMembersDelta(this.last.config, m.delta)
          : {
              ok: false as const,
              error: `delta against load ${m.base}, last kept ${this.last?.id ?? "none"}`,
            };
      if (!rebuilt.ok) {
        this.kill(failure(rebuilt.error, `config load worker out of step: ${rebuilt.error}`));
        return;
      }
      r = { ok: true, config: rebuilt.config };
    }
    if (r.ok) this.last = { id: m.id, config: r.config };
    const p = this.pending;
    if (p?.id !== m.id) return;
    if (r.ok) this.lastFrom = { path: p.path, env: p.env };
    this.settle(r);
  }

  private settle(r: ConfigResult): void {
    const p = this.pending;
    this.pending = null;
    p?.resolve(r);
  }

  /** Ends this worker (idle: nothing is in flight when loads are queued). */
  close(): void {
    this.kill(failure("closed", "config load worker closed"));
  }

  /** Ends this worker for good: the load in flight (if any) gets `r`. */
  private kill(r: ConfigResult): void {
    this.handedOver?.(null);
    if (!this.dead) {
      this.dead = true;
      void this.worker.terminate();
    }
    this.settle(r);
  }
}

let current: LoadWorker | null = null;
let queue: Promise<unknown> = Promise.resolve();
let pendingLoads = 0;
let idleTimer: NodeJS.Timeout | null = null;

/** Whether the load worker is up (for status and tests: it closes itself when idle). */
export function loadWorkerRunning(): boolean {
  return current !== null && !current.dead;
}

/** loadConfigFile(path, env) run in a worker thread; never throws. */
export function loadConfigFileOffThread(
  path: string,
  env: NodeJS.ProcessEnv,
  opts: OffThreadOptions = {},
): Promise<ConfigResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxHeapMb = opts.maxHeapMb ?? 512;
  const idleMs = opts.idleMs ?? 10_000;
  pendingLoads++;
  if (idleTimer !== null) clearTimeout(idleTimer);
  idleTimer = null;
  const run = async (): Promise<ConfigResult> => {
    if (current === null || current.dead || current.maxHeapMb !== maxHeapMb) {
      current?.close();
      current = new LoadWorker(maxHeapMb, seed);
    }
    try {
      return await current.load(path, env, timeoutMs);
    } catch (err) {
      current.close();
      return failure(String(err), `config load failed: ${String(err)}`);
    } finally {
      if (--pendingLoads === 0) {
        idleTimer = setTimeout(() => {
          idleTimer = null;
          const idle = current;
          if (pendingLoads !== 0 || idle === null) return;
          // In the queue: a load that comes meanwhile waits, then starts a worker from the new seed.
          queue = queue.then(() => idle.retire(HANDOVER_MS));
        }, idleMs);
        idleTimer.unref();
      }
    }
  };
  const next = queue.then(run, run);
  queue = next;
  return next;
}
