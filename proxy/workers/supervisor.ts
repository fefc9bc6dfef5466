// The primary's side of `workers: N`: forks N data-plane workers (node:cluster, so they share
// the listening socket), hands each the committed state and every applied change, restarts a
// worker that dies (bounded exponential backoff, logged), gathers their metrics and outcome
// batches, and drains them all on shutdown. It never serves a request itself.

import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { ShardgateConfig } from "../../config/file/schema.js";
import type { ClusterStateData } from "../../config/state/types.js";
import type { DescriptorView } from "../admin/types.js";
import type { KeyRules } from "../routing/key-extract.js";
import type { CertificatePem } from "../server/certificate-store.js";
import type { LiveAggregate } from "./live-aggregate.js";
import {
  type FromWorker,
  isFromWorker,
  type LocalSections,
  type RoutingRebuild,
  type StartRouting,
  type ToWorker,
  type WorkerConfig,
} from "./messages.js";
import type { WorkerOutcomes } from "./worker-outcomes.js";

const FROM_SOURCE = import.meta.url.endsWith(".ts");
const WORKER_MAIN = fileURLToPath(
  new URL(FROM_SOURCE ? "./worker-entry.ts" : "./worker-entry.js", import.meta.url),
);

/** First restart delay; doubles per crash in a row up to MAX_BACKOFF_MS. */
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 10_000;
/** A worker that ran this long before dying starts the backoff over. */
const STABLE_MS = 30_000;
const START_TIMEOUT_MS = 30_000;
const METRICS_TIMEOUT_MS = 2_000;

type InitMessage = Extract<ToWorker, { t: "init" }>;

/**
 * The init message of worker `worker`: the start file's pools and routes only when `committed`
 * has no routing yet (the worker routes on them provisionally until it has); otherwise the state
 * sent right after replaces them before the worker listens, so they are left out.
 */
export function initMessage(
  base: Omit<InitMessage, "t" | "provisional">,
  startRouting: StartRouting,
  committed: ClusterStateData | null,
): InitMessage {
  const m: InitMessage = { t: "init", ...base };
  if (committed?.routing == null) m.provisional = startRouting;
  return m;
}

export interface SupervisorInit {
  count: number;
  logger: Logger;
  outcomes: WorkerOutcomes;
  /** The dashboard's live figures, summed over the workers' beats. */
  live: LiveAggregate;
  /** The committed state a (re)started worker begins from; null: route provisionally on the file. */
  committed(): ClusterStateData | null;
  init: Omit<
    InitMessage,
    "t" | "worker" | "workers" | "primaryReserve" | "primaryFloor" | "config" | "provisional" | "certificates"
  > & { config: ShardgateConfig };
  /** The listener's pairs as the primary last loaded them (listen.tls), read as each worker starts. */
  certificates(): CertificatePem[] | undefined;
  /** The primary's part of the memory split, read as each worker starts (measured once the Raft state is loaded). */
  memorySplit(): { primaryReserve: number; primaryFloor: number };
  onRestart(): void;
  /** The environment the app started with (SHARDGATE_* overrides, settle options): every worker's. */
  env: NodeJS.ProcessEnv;
}

interface Slot {
  readonly index: number;
  worker: Worker | null;
  /** The worker said "ready": it receives messages now (and had init and the state). */
  ready: boolean;
  startedAt: number;
  crashes: number;
  restarts: number;
  inFlight: number;
  ringVersion: number;
  timer: NodeJS.Timeout | undefined;
  /** fork() is waiting for this worker to listen. */
  starting: boolean;
  /** The worker's descriptor figures from its last beat (undefined before its first). */
  descriptors: DescriptorView | undefined;
  /** The worker's memory overload level from its last beat (0 before its first). */
  overload: number;
  /** The worker's memory usage ratio from its last beat (0 before its first). */
  memoryUsage: number;
  /** The worker's estimate for its open TLS connections from its last beat (0 before its first). */
  tlsBytes: number;
}

/**
 * A stop signal sent to the whole process group (Ctrl-C, systemd's control-group kill) while
 * a worker starts: before its first line of JavaScript runs (over a second on a loaded
 * machine) nothing can hold it, and Node's default ends the worker. The stop is the
 * primary's to make (it got the signal too, and holds it until its start completes), so
 * such a worker is forked again, up to this many times, instead of failing the start.
 */
const STOP_SIGNAL_REFORKS = 3;
const STOP_SIGNALS: ReadonlySet<string> = new Set(["SIGTERM", "SIGINT"]);

export interface WorkerView {
  worker: number;
  pid: number | null;
  inFlight: number;
  ringVersion: number;
  restarts: number;
  descriptors?: DescriptorView;
}

export class WorkerSupervisor {
  private readonly slots: Slot[] = [];
  private stopping = false;
  /** The key spelling rules the primary reads keys by, once it set them (sent to each worker on ready). */
  private rules: KeyRules | null = null;
  private nextMetricsId = 1;
  private readonly metricsWaiters = new Map<
    number,
    { left: number; got: Array<{ pid: number; json: unknown[] }>; done: () => void }
  >();

  /** Copied once: a worker restarted later reads what the first ones read, whatever changes process.env since. */
  private readonly env: NodeJS.ProcessEnv;
  /** What every worker runs now, and what a (re)started one gets: the start config and the reloads' local sections. */
  private config: WorkerConfig;
  /** The file's routing (the start file's, then a provisional reload's), for a worker started while nothing is committed. */
  private startRouting: StartRouting;

  constructor(private readonly s: SupervisorInit) {
    this.env = { ...s.env };
    const { pools, routes, ...config } = s.init.config;
    this.config = config;
    this.startRouting = { pools, routes };
    // Every worker accepts on the shared socket itself (as nginx workers do), unless the operator
    // set NODE_CLUSTER_SCHED_POLICY=rr: with node's default round-robin the primary accepts every
    // connection and hands it over IPC, so a busy or slow primary would delay every new client
    // (bench/workers-bench.ts on 2 loaded cores: x2/x1 0.87x with rr, 1.83x without, one run each).
    if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: WORKER_MAIN, args: [] });
    for (let i = 0; i < s.count; i++)
      this.slots.push({
        index: i,
        worker: null,
        ready: false,
        startedAt: 0,
        crashes: 0,
        restarts: 0,
        starting: false,
        inFlight: 0,
        ringVersion: -1,
        timer: undefined,
        descriptors: undefined,
        overload: 0,
        memoryUsage: 0,
        tlsBytes: 0,
      });
  }

  /**
   * Forks every worker at once (node:cluster hands workers that listen on port 0 one shared
   * port). Resolves with the bound address once all listen, or with why one did not.
   */
  async start(): Promise<{ ok: true; address: string } | { ok: false; message: string }> {
    const all = await Promise.all(this.slots.map((slot) => this.fork(slot)));
    const failed = all.find((r) => !r.ok);
    if (failed !== undefined && !failed.ok) return failed;
    const first = all[0];
    if (!first.ok) return first;
    if (all.some((r) => r.ok && r.port !== first.port))
      return { ok: false, message: "workers: the workers bound different ports" };
    return { ok: true, address: first.address };
  }

  private fork(
    slot: Slot,
    reforks = 0,
  ): Promise<{ ok: true; address: string; port: number } | { ok: false; message: string }> {
    const w = cluster.fork({ ...this.env, SHARDGATE_WORKER: String(slot.index) });
    slot.worker = w;
    slot.starting = true;
    slot.ready = false;
    slot.startedAt = performance.now();
    slot.inFlight = 0;
    // Not the dead worker's: the new one has reported no ring version until its first beat.
    slot.ringVersion = -1;
    slot.descriptors = undefined;
    slot.overload = 0;
    slot.memoryUsage = 0;
    slot.tlsBytes = 0;
    w.on("message", (m: unknown) => this.onMessage(slot, w, m));
    w.on("exit", (code, signal) => this.onExit(slot, w, code, signal));
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        done({
          ok: false,
          message: `workers: worker ${slot.index} did not listen within ${START_TIMEOUT_MS} ms`,
        });
        w.kill("SIGKILL");
      }, START_TIMEOUT_MS);
      const onMessage = (m: unknown): void => {
        if (!isFromWorker(m)) return;
        if (m.t === "listening") done({ ok: true, address: m.address, port: m.port });
        else if (m.t === "failed") done({ ok: false, message: m.message });
      };
      const onExit = (code: number | null, signal: string | null): void => {
        if (signal !== null && STOP_SIGNALS.has(signal) && reforks < STOP_SIGNAL_REFORKS && !this.stopping) {
          clearTimeout(timer);
          w.off("message", onMessage);
          w.off("exit", onExit);
          this.s.logger.info(
            { worker: slot.index, signal },
            "worker ended by a stop signal while starting; forked again (the primary decides the stop)",
          );
          resolve(this.fork(slot, reforks + 1));
          return;
        }
        done({
          ok: false,
          message: `workers: worker ${slot.index} exited while starting (${signal ?? code})`,
        });
      };
      const done = (
        r: { ok: true; address: string; port: number } | { ok: false; message: string },
      ): void => {
        slot.starting = false;
        clearTimeout(timer);
        w.off("message", onMessage);
        w.off("exit", onExit);
        resolve(r);
      };
      w.on("message", onMessage);
      w.on("exit", onExit);
    });
  }

  private send(w: Worker, m: ToWorker): void {
    // A worker that is exiting cannot take messages; its replacement gets the current state.
    if (!w.isConnected()) return;
    try {
      // With a callback: a write that fails because the worker closed its end (EPIPE: it drained
      // and exited while an applied entry was being passed on) is reported there; without one,
      // Node emitted it on the next tick as an 'error' nobody listened to, and the primary died of
      // an uncaught exception at shutdown (exit 1).
      w.send(m, ignoreSendError);
    } catch {
      // The channel closed between the check and the send: same as above.
    }
  }

  private onMessage(slot: Slot, w: Worker, m: unknown): void {
    if (!isFromWorker(m) || slot.worker !== w) return;
    const msg: FromWorker = m;
    switch (msg.t) {
      case "ready": {
        const data = this.s.committed();
        const base = {
          worker: slot.index,
          workers: this.s.count,
          ...this.s.init,
          config: this.config,
          certificates: this.s.certificates(),
          ...this.s.memorySplit(),
        };
        this.send(w, initMessage(base, this.startRouting, data));
        // The key rules, then the state as of now; every later change follows in order on the same channel.
        if (this.rules !== null) this.send(w, { t: "keyRules", rules: this.rules });
        if (data !== null) this.send(w, { t: "state", data, rebuild: { pools: "all", routesChanged: true } });
        slot.ready = true;
        return;
      }
      case "outcomes":
        this.s.outcomes.add(msg.batch);
        return;
      case "beat":
        slot.inFlight = msg.inFlight;
        slot.ringVersion = msg.ringVersion;
        slot.descriptors = msg.descriptors;
        slot.overload = msg.overload ?? 0;
        slot.memoryUsage = msg.memoryUsage ?? 0;
        slot.tlsBytes = msg.tlsBytes ?? 0;
        this.s.live.add(slot.index, msg.live, msg.memberInFlight);
        return;
      case "metrics": {
        const waiter = this.metricsWaiters.get(msg.id);
        if (waiter === undefined) return;
        waiter.got.push({ pid: w.process.pid ?? -1, json: msg.json });
        if (--waiter.left === 0) waiter.done();
        return;
      }
      default:
        return;
    }
  }

  private onExit(slot: Slot, w: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== w) return;
    slot.worker = null;
    slot.ready = false;
    slot.inFlight = 0;
    this.s.live.gone(slot.index);
    if (this.stopping) {
      if (code !== 0)
        this.s.logger.warn({ worker: slot.index, code, signal }, "worker exited uncleanly while draining");
      return;
    }
    // fork() forks it again itself (STOP_SIGNAL_REFORKS).
    if (slot.starting && signal !== null && STOP_SIGNALS.has(signal)) return;
    const lived = performance.now() - slot.startedAt;
    slot.crashes = lived > STABLE_MS ? 1 : slot.crashes + 1;
    const delay = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (slot.crashes - 1));
    this.s.logger.error(
      {
        worker: slot.index,
        pid: w.process.pid,
        code,
        signal,
        livedMs: Math.round(lived),
        restartInMs: delay,
      },
      "worker died; restarting it",
    );
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.stopping) return;
      slot.restarts++;
      this.s.onRestart();
      void this.fork(slot).then((r) => {
        if (r.ok)
          this.s.logger.info({ worker: slot.index, pid: slot.worker?.process.pid }, "worker restarted");
        else this.s.logger.error({ worker: slot.index, err: r.message }, "restarted worker failed to start");
      });
    }, delay);
  }

  /** An applied entry (or snapshot restore): every live worker applies the same state. */
  applied(data: ClusterStateData, rebuild: RoutingRebuild | null): void {
    for (const slot of this.slots)
      if (slot.worker !== null && slot.ready) this.send(slot.worker, { t: "state", data, rebuild });
  }

  /** The key spelling rules changed: every live worker reads keys by `rules` (and so does every later one). */
  keyRules(rules: KeyRules): void {
    this.rules = rules;
    for (const slot of this.slots)
      if (slot.worker !== null && slot.ready) this.send(slot.worker, { t: "keyRules", rules });
  }

  /** The primary loaded new listener certificates: every live worker serves them (a later one gets them in init). */
  certificatesChanged(): void {
    const pems = this.s.certificates();
    if (pems === undefined) return;
    for (const slot of this.slots)
      if (slot.worker !== null && slot.ready) this.send(slot.worker, { t: "certificates", pems });
  }

  /** After an accepted reload: its local sections reach every worker, and every worker started later. */
  reloaded(local: LocalSections): void {
    this.config = { ...this.config, ...local };
    for (const slot of this.slots)
      if (slot.worker !== null && slot.ready) this.send(slot.worker, { t: "local", local });
  }

  /**
   * Nothing routed is committed yet and a reload routes provisionally on its file: every live
   * worker routes on it too, and so does every worker started later (until a committed state).
   */
  provisional(routing: StartRouting): void {
    this.startRouting = routing;
    for (const slot of this.slots)
      if (slot.worker !== null && slot.ready) this.send(slot.worker, { t: "provisional", routing });
  }

  /** Each live worker's registry as prom-client JSON, with its pid (those that answer within the deadline). */
  metrics(): Promise<Array<{ pid: number; json: unknown[] }>> {
    const live = this.slots.filter((s) => s.ready && s.worker?.isConnected() === true);
    if (live.length === 0) return Promise.resolve([]);
    const id = this.nextMetricsId++;
    return new Promise((resolve) => {
      const got: Array<{ pid: number; json: unknown[] }> = [];
      const done = (): void => {
        clearTimeout(timer);
        this.metricsWaiters.delete(id);
        resolve(got);
      };
      const timer = setTimeout(done, METRICS_TIMEOUT_MS);
      this.metricsWaiters.set(id, { left: live.length, got, done });
      for (const s of live) if (s.worker !== null) this.send(s.worker, { t: "metrics", id });
    });
  }

  views(): WorkerView[] {
    return this.slots.map((s) => {
      const v: WorkerView = {
        worker: s.index,
        pid: s.worker?.process.pid ?? null,
        inFlight: s.inFlight,
        ringVersion: s.ringVersion,
        restarts: s.restarts,
      };
      if (s.descriptors !== undefined) v.descriptors = s.descriptors;
      return v;
    });
  }

  /** The highest memory overload level of the running workers (their last beats), 0 when none is over. */
  overloadLevel(): number {
    let level = 0;
    for (const s of this.slots) if (s.worker !== null && s.overload > level) level = s.overload;
    return level;
  }

  /** The highest memory usage ratio of the running workers (their last beats), 0 when none reported. */
  memoryUsage(): number {
    let usage = 0;
    for (const s of this.slots) if (s.worker !== null && s.memoryUsage > usage) usage = s.memoryUsage;
    return usage;
  }

  /** The sum of the running workers' estimates for their open TLS connections (their last beats). */
  tlsBytes(): number {
    let bytes = 0;
    for (const s of this.slots) if (s.worker !== null) bytes += s.tlsBytes;
    return bytes;
  }

  get live(): number {
    return this.slots.filter((s) => s.worker !== null).length;
  }

  /** Every worker drains (in-flight requests finish) and exits; resolves once all have. */
  async stop(reason: string, graceMs: number): Promise<void> {
    this.stopping = true;
    const exits: Promise<void>[] = [];
    for (const slot of this.slots) {
      clearTimeout(slot.timer);
      const w = slot.worker;
      if (w === null) continue;
      exits.push(
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          const kill = setTimeout(() => {
            this.s.logger.warn({ worker: slot.index }, "worker did not finish draining; killing it");
            w.kill("SIGKILL");
          }, graceMs);
          w.once("exit", () => {
            clearTimeout(kill);
            resolve();
          });
          this.send(w, { t: "shutdown", reason });
        }),
      );
    }
    await Promise.all(exits);
  }
}

/** A message the worker can no longer take: its replacement, if any, starts from the current state. */
function ignoreSendError(_err: Error | null): void {}
