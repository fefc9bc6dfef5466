// Every Prometheus metric shardgate exports, defined once on a registry of its own (not
// prom-client's global one, so two apps in one test process never collide). Names follow
// Prometheus conventions; meanings follow Envoy's cluster stats (upstream_rq_*, cx_connect_fail,
// membership_healthy, lb ring size). Labels are member ids and pool/route names, never keys.

import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { replayFigures } from "../forward/body-replay.js";
import { upstreamLookup } from "../net/bounded-lookup.js";
import { discoveryErrors, registerDiscoveryErrorMetric } from "./discovery-errors.js";
import { registerDnsMetrics } from "./dns-metrics.js";
import {
  type LabelledCounts,
  type MemberCounts,
  registerCountsHistogram,
  registerMemberHistogram,
} from "./member-histogram.js";
import { MEMBER_HISTOGRAM, type MemberHistogramMode } from "./member-histogram-mode.js";
import { registerScrapeMetric, type ScrapeSample } from "./scrape-metric.js";
import { SHARDGATE_VERSION } from "./version.js";

export const CODE_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
export type CodeClass = (typeof CODE_CLASSES)[number];

/** Member label for requests that never reached a member (no member available, key rejected). */
export const NO_MEMBER = "none";

/** Counts of requests in flight by pool label, read when /metrics is scraped. */
export type InFlightSource = () => ReadonlyMap<string, number>;
/** Counts of requests in flight by pool, then member, read when /metrics is scraped. */
export type MemberInFlightSource = () => ReadonlyMap<string, ReadonlyMap<string, number>>;

export interface ShardgateMetrics {
  readonly registry: Registry;
  /** Where the in-flight gauge reads from at scrape time (set by the observer). */
  inFlightSource: InFlightSource;
  memberInFlightSource: MemberInFlightSource;
  /**
   * shardgate_requests_total's samples (route, pool, member, code_class), read at scrape time
   * from the series cache's plain counts (scrape-metric.ts).
   */
  requestsSource: () => Iterable<ScrapeSample>;
  /** Where the per-pool latency histogram (shardgate_request_duration_seconds) reads its counters at scrape time. */
  poolCountsSource: () => Iterable<LabelledCounts>;
  /** The pools of the applied routing, read at scrape time (set by the series cache). */
  poolNamesSource: () => Iterable<string>;
  readonly inFlight: Gauge<"pool">;
  /** Where the per-member latency histogram reads its counters at scrape time (set by the series cache). */
  memberCountsSource: () => Iterable<MemberCounts>;
  /** `metrics.memberHistograms` from the current config, read at scrape time (member-histogram-mode.ts). */
  memberHistograms: () => MemberHistogramMode;
  readonly memberInFlight: Gauge<"pool" | "member">;
  readonly buildInfo: Gauge<"version" | "node_version">;
  readonly connectErrors: Counter<"pool" | "member">;
  readonly upstreamErrors: Counter<"pool" | "member" | "kind">;
  readonly retries: Counter<"pool">;
  readonly grpcRefused: Counter<"pool">;
  /** shardgate_member_healthy and shardgate_member_draining samples, read at scrape time (set by the series cache). */
  memberFlagsSource: (flag: "healthy" | "draining") => Iterable<ScrapeSample>;
  readonly healthTransitions: Counter<"pool" | "member" | "to">;
  readonly ringPoints: Gauge<"pool">;
  readonly ringMemberPointsMin: Gauge<"pool">;
  readonly ringMemberPointsMax: Gauge<"pool">;
  readonly ringVersion: Gauge;
  readonly configReloads: Counter<"result">;
  readonly clientErrors: Counter<"code">;
  /**
   * shardgate_local_resource_exhausted_total: in a worker of `workers: N` each series also carries
   * `worker` (its index), so the primary's sum keeps one series per process and an alert names
   * the process at its limit; the primary's own and a single process's series have no `worker`.
   */
  readonly localExhausted: OpCounter;
}

/** A counter by `op` alone (the `worker` label, where there is one, is added by the counter). */
export interface OpCounter {
  inc(labels: { op: string }): void;
}

export interface MetricsOptions {
  /** Also export process metrics (CPU, RSS, event-loop lag) as shardgate_process_*. Default true. */
  processMetrics?: boolean;
  /** This process is worker N of `workers: N` (labels shardgate_local_resource_exhausted_total). */
  worker?: number;
}

// Proxy latencies sit between sub-millisecond (local upstream) and the response timeout.
export const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** shardgate_local_resource_exhausted_total, labelled with `worker` in a worker process. */
function localExhaustedCounter(registers: Registry[], worker: number | undefined): OpCounter {
  const counter = new Counter({
    name: "shardgate_local_resource_exhausted_total",
    help: "Times this process met its own descriptor or local-port limit (EMFILE, ENFILE, EADDRNOTAVAIL), by operation (accept, upstream_connect, descriptors, health_check, raft_dial) and, with workers: N, by worker index (no worker label: the primary or a single process); never counted against a member.",
    labelNames: ["op", "worker"],
    registers,
  });
  if (worker === undefined) return counter;
  const label = String(worker);
  return { inc: (l) => counter.inc({ op: l.op, worker: label }) };
}

/** prom-client default gauges dropped for their *_total names: each is the sum of its by-type gauge. */
const DROPPED_DEFAULT_TOTALS = ["handles", "requests", "resources"] as const;

export function createMetrics(opts: MetricsOptions = {}): ShardgateMetrics {
  const registry = new Registry();
  const registers = [registry];
  // The event-loop delay histogram samples on a timer of its own: prom-client's default 10 ms
  // woke every idle instance 100 times a second (its most frequent wake-up, 5x the Raft tick.s
  // at 50 ms); at 100 ms a stall still shows in the percentiles, with a tenth of the wake-ups.
  if (opts.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: "shardgate_", eventLoopMonitoringPrecision: 100 });
    // prom-client adds a gauge named *_total next to each by-type gauge of active handles,
    // requests and resources: the sum of the by-type series, under a counter's suffix, which
    // promtool's lint and Prometheus' naming rules refuse. sum(shardgate_nodejs_active_handles)
    // gives the same figure (README, Metric renames).
    for (const what of DROPPED_DEFAULT_TOTALS)
      registry.removeSingleMetric(`shardgate_nodejs_active_${what}_total`);
  }
  const metrics: ShardgateMetrics = {
    registry,
    inFlightSource: () => new Map(),
    memberInFlightSource: () => new Map(),
    requestsSource: () => [],
    memberFlagsSource: () => [],
    poolCountsSource: () => [],
    poolNamesSource: () => [],
    inFlight: new Gauge({
      name: "shardgate_requests_in_flight",
      help: "Downstream requests (and open websockets) currently being proxied, by pool.",
      labelNames: ["pool"],
      registers,
      // Counted at scrape time: a request's pool is only known after route matching, so the
      // request path keeps no per-pool counter, only the set of open requests. Every pool gets
      // a sample, 0 when idle: an idle pool had no series at all, and `sum by (pool)` showed
      // "No data" rather than 0. The pools come from the applied routing, not from its members,
      // so a discovered pool with no instance (yet, or scaled to zero) has its 0 too.
      collect() {
        this.reset();
        for (const pool of metrics.poolNamesSource()) this.set({ pool }, 0);
        for (const [pool, n] of metrics.inFlightSource()) this.set({ pool }, n);
      },
    }),
    memberCountsSource: () => [],
    memberHistograms: () => "auto",
    memberInFlight: new Gauge({
      name: "shardgate_member_requests_in_flight",
      help: "Requests currently being proxied to a member (counted at scrape time), by pool and member.",
      labelNames: ["pool", "member"],
      registers,
      // Every current member of every pool gets a sample, 0 when idle: with samples only for
      // members with open requests, an idle fleet's "In flight by member" panel showed "No
      // data" instead of 0s. The labels are the ones shardgate_member_healthy already has
      // (the pools' members), so the cardinality does not grow.
      collect() {
        this.reset();
        for (const s of metrics.memberFlagsSource("healthy"))
          this.set(s.labels as { pool: string; member: string }, 0);
        for (const [pool, members] of metrics.memberInFlightSource())
          for (const [member, n] of members) this.set({ pool, member }, n);
      },
    }),
    buildInfo: new Gauge({
      name: "shardgate_build_info",
      help: "Always 1; the labels say which shardgate and Node.js versions run here.",
      labelNames: ["version", "node_version"],
      registers,
    }),
    connectErrors: new Counter({
      name: "shardgate_upstream_connect_errors_total",
      help: "Connections to a member that failed (refused, unreachable, connect timeout).",
      labelNames: ["pool", "member"],
      registers,
    }),
    upstreamErrors: new Counter({
      name: "shardgate_upstream_errors_total",
      help: "Upstream attempts that failed, by kind (connect, reset, timeout, ...).",
      labelNames: ["pool", "member", "kind"],
      registers,
    }),
    retries: new Counter({
      name: "shardgate_retries_total",
      help: "Attempts retried on another member after a failure before any response byte.",
      labelNames: ["pool"],
      registers,
    }),
    grpcRefused: new Counter({
      name: "shardgate_grpc_refused_total",
      help: "gRPC calls refused (grpc_needs_h2_pool) because the route's pool has protocol http1.",
      labelNames: ["pool"],
      registers,
    }),
    healthTransitions: new Counter({
      name: "shardgate_health_transitions_total",
      help: "Active health check state changes, by the state entered.",
      labelNames: ["pool", "member", "to"],
      registers,
    }),
    ringPoints: new Gauge({
      name: "shardgate_ring_points",
      help: "Size of the pool's hash table (ring points or Maglev table entries).",
      labelNames: ["pool"],
      registers,
    }),
    ringMemberPointsMin: new Gauge({
      name: "shardgate_ring_member_points_min",
      help: "Fewest ring points / table entries owned by one member of the pool.",
      labelNames: ["pool"],
      registers,
    }),
    ringMemberPointsMax: new Gauge({
      name: "shardgate_ring_member_points_max",
      help: "Most ring points / table entries owned by one member of the pool.",
      labelNames: ["pool"],
      registers,
    }),
    ringVersion: new Gauge({
      name: "shardgate_ring_version",
      help: "Version of the routing state currently applied (increases on every applied change).",
      registers,
    }),
    configReloads: new Counter({
      name: "shardgate_config_reloads_total",
      help: "Config reload attempts, by result (success, failure).",
      labelNames: ["result"],
      registers,
    }),
    clientErrors: new Counter({
      name: "shardgate_downstream_client_errors_total",
      help: "Connections rejected before a request existed (bad_request, request_timeout, headers_too_large, client_gone, proxy_protocol_*, tls_handshake_timeout, tls_handshake_failed), clients gone mid-answer (client_send_timeout, downstream_disconnected), HTTP/2 connections closed for abuse (h2_rapid_reset, h2_flood, h2_protocol_error), requests past the client's share of a member (client_share_exceeded), and requests whose rate-limit key source was sent more than once (ambiguous_key).",
      labelNames: ["code"],
      registers,
    }),
    localExhausted: localExhaustedCounter(registers, opts.worker),
  };
  registerScrapeMetric(
    registry,
    "shardgate_requests_total",
    "Downstream requests completed, by route, pool, chosen member and response status class.",
    "counter",
    () => metrics.requestsSource(),
  );
  registerScrapeMetric(
    registry,
    "shardgate_member_healthy",
    "1 if the member passes active health checks (or has none), else 0.",
    "gauge",
    () => metrics.memberFlagsSource("healthy"),
  );
  registerScrapeMetric(
    registry,
    "shardgate_member_draining",
    "1 if the member is draining (receives no new requests), else 0.",
    "gauge",
    () => metrics.memberFlagsSource("draining"),
  );
  registerCountsHistogram(
    registry,
    "shardgate_request_duration_seconds",
    "Time from request received to response finished (or aborted), by pool.",
    DURATION_BUCKETS,
    () => metrics.poolCountsSource(),
  );
  registerMemberHistogram(
    registry,
    MEMBER_HISTOGRAM,
    "Time from request received to response finished, by pool and the member that served it.",
    DURATION_BUCKETS,
    () => metrics.memberCountsSource(),
  );
  registerDnsMetrics(registry, () => upstreamLookup);
  registerScrapeMetric(
    registry,
    "shardgate_h2_replay_body_bytes",
    "Bytes of HTTP/2 request bodies kept now for a re-send of an unprocessed stream (at most 64 MiB per process).",
    "gauge",
    () => [{ labels: {}, value: replayFigures.keptBytes }],
  );
  registerScrapeMetric(
    registry,
    "shardgate_h2_replay_bodies_over_budget_total",
    "HTTP/2 request bodies not kept for a re-send because all kept bodies held the 64 MiB budget.",
    "counter",
    () => [{ labels: {}, value: replayFigures.overBudget }],
  );
  registerDiscoveryErrorMetric(registry, discoveryErrors);
  metrics.buildInfo.set({ version: SHARDGATE_VERSION, node_version: process.versions.node }, 1);
  return metrics;
}

/** "2xx" for 200..299, and so on; anything outside 100..599 counts as 5xx (a broken response). */
export function codeClassIndex(status: number): number {
  const c = (status / 100) | 0;
  return c >= 1 && c <= 5 ? c - 1 : 4;
}
