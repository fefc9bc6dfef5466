// The messages between the primary and its data-plane workers (node:cluster IPC, structured
// clone). The primary owns the Raft node and the committed state; a worker owns a listener and
// a data plane and routes on the committed state the primary hands it, so every worker builds
// the same ring from the same state at the same version.

import type { ShardgateConfig } from "../../config/file/schema.js";
import type { ClusterStateData } from "../../config/state/types.js";
import type { OutcomeBatch } from "../../health/outcome-recorder.js";
import type { DescriptorView } from "../admin/types.js";
import type { KeyRules } from "../routing/key-extract.js";
import type { CertificatePem } from "../server/certificate-store.js";

/** The sections of a reloaded file that workers apply at once (routing arrives as "state"). */
export type LocalSections = Pick<ShardgateConfig, "log" | "metrics">;

/**
 * The config a worker runs, without the start file's pools and routes: a worker routes on the
 * committed state (the "state" message), which replaces them. At 10,000 members they made the
 * init message ~700 KB, serialized and parsed at every (re)start for nothing.
 */
export type WorkerConfig = Omit<ShardgateConfig, "pools" | "routes">;

/**
 * The file's routing (the start file's, or a reloaded one's), which a worker routes on
 * provisionally while nothing routed is committed.
 */
export type StartRouting = Pick<ShardgateConfig, "pools" | "routes">;

/** What a worker does with one applied entry: rebuild these pools (and routes), or only follow breakers. */
export interface RoutingRebuild {
  readonly pools: readonly string[] | "all";
  readonly routesChanged: boolean;
}

/**
 * One member's counter gains since the worker's last beat: pool, member, count, errors,
 * seconds summed, and the latency buckets that gained as flat (bucket index, gain) pairs.
 */
export type LiveDelta = [string, string, number, number, number, number[]];
/** pool, member, requests in flight there now. */
export type MemberInFlight = [string, string, number];

export type ToWorker =
  | {
      t: "init";
      worker: number;
      /** How many workers the instance runs (each admits its share of every probe budget). */
      workers: number;
      /**
       * The config the workers run: the one the primary started with and validated, with the
       * local sections of the last accepted reload. The worker never reads the operator's file:
       * a restarted worker must run what its siblings run, even once the file is broken, or
       * edited and not reloaded. Routing follows the committed state ("state" below).
       */
      config: WorkerConfig;
      /** Sent only while the primary has no committed routing: the worker routes on it until some arrives. */
      provisional?: StartRouting;
      /**
       * With listen.tls: the listener's pairs as the primary last loaded them whole. Only the
       * primary reads the files: a worker restarted once they were broken or removed serves what
       * its siblings serve (read itself, it failed to start).
       */
      certificates?: CertificatePem[];
      /** The cluster secret (signs affinity cookies): one for every worker of the instance. */
      secret: string;
      nodeId: string;
      drainTimeoutMs: number;
      logDestination?: number | string;
      /** The primary's part of the container's memory (memory-limit.ts): the workers split the rest. */
      primaryReserve: number;
      /** The least the primary keeps whatever the split (memory-limit.ts WorkerSplit). */
      primaryFloor: number;
    }
  | { t: "state"; data: ClusterStateData; rebuild: RoutingRebuild | null }
  /** Read keys by these spelling rules from now on (the committed cluster level; committed-routing.ts). */
  | { t: "keyRules"; rules: KeyRules }
  /** The primary loaded new listener certificates: serve these from now on. */
  | { t: "certificates"; pems: CertificatePem[] }
  /** An accepted reload's local sections (the primary validated the file). */
  | { t: "local"; local: LocalSections }
  /** Route provisionally on a reloaded file's routing (sent only while no routing is committed). */
  | { t: "provisional"; routing: StartRouting }
  | { t: "metrics"; id: number }
  | { t: "shutdown"; reason: string };

export type FromWorker =
  /**
   * The worker's message handler is attached. Node drops IPC messages that arrive before a
   * worker (an ES module, loaded asynchronously) listens, so the primary sends nothing before.
   */
  | { t: "ready" }
  | { t: "listening"; address: string; port: number }
  | { t: "failed"; message: string }
  | { t: "outcomes"; batch: OutcomeBatch }
  | {
      t: "beat";
      inFlight: number;
      ringVersion: number;
      /** The dashboard's live figures, which the primary sums (live-aggregate.ts). */
      live: LiveDelta[];
      memberInFlight: MemberInFlight[];
      /** The worker's own descriptor limit and shortages (each worker is a process of its own). */
      descriptors?: DescriptorView;
      /** The worker's memory overload level (proxy/server/overload.ts): the primary's /readyz reads it. */
      overload?: number;
      /** The worker's memory usage ratio at its last sample (shardgate_memory_usage_ratio without its answer to a scrape). */
      memoryUsage?: number;
      /** The part of it estimated for its open TLS connections (bytes; shardgate_memory_tls_estimate_bytes). */
      tlsBytes?: number;
    }
  | { t: "metrics"; id: number; json: unknown[] };

export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === "object" && m !== null && typeof (m as { t?: unknown }).t === "string";
}
