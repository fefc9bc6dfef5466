// The fleet's metrics: Raft role and indexes, transport frames rejected by reason, application
// messages rejected, config drift, pools in healthy-panic, and committed breaker states. All
// read from a source at scrape time (nothing on the request path), on the app's registry.

import { Gauge, type Registry } from "prom-client";
import { REFUSAL_REASONS } from "../../config/raft/core/index.js";
import {
  SNAPSHOT_REFUSAL_CODES,
  type SnapshotRefusalCode,
} from "../../config/raft/driver/snapshot-refusal-log.js";
import type { RaftDriver } from "../../config/raft/driver.js";
import type { PeerCounters } from "../../config/raft/transport/index.js";
import { registerScrapeMetric } from "./scrape-metric.js";

/**
 * Every reason shardgate_raft_refused_total can carry: the core's refusals (from the core's own
 * list, so a new one is exported and named in the help without an edit here), the transport's
 * cluster_mismatch the driver counts with them, snapshots the driver refused on arrival
 * (bad_snapshot: envelope or state undecodable), and the driver's spoofed senders and
 * undecodable payloads. The help text is built from it and only these series are exported.
 */
export const RAFT_REFUSED_REASONS = [
  ...REFUSAL_REASONS,
  "cluster_mismatch",
  "bad_snapshot",
  "spoofed_sender",
  "undecodable",
] as const;
export type RaftRefusedReason = (typeof RAFT_REFUSED_REASONS)[number];

// Compile-time half of the no-drift check (test/ops/raft-refused-reasons.test.ts is the other):
// a reason the driver counts that the list lacks fails the build here.
type Uncovered = Exclude<keyof RaftDriver["counters"]["refused"], RaftRefusedReason>;
const everyDriverReasonListed: [Uncovered] extends [never] ? true : Uncovered = true;
void everyDriverReasonListed;

/** The HELP of shardgate_raft_refused_total: what it counts and every reason it can carry. */
export const RAFT_REFUSED_HELP = `Authenticated Raft messages refused for who sent them or what they hold, by reason: ${RAFT_REFUSED_REASONS.join(", ")}.`;

export interface ClusterMetricsSource {
  raft():
    | {
        term: number;
        isLeader: boolean;
        commitIndex: number;
        appliedIndex: number;
        /** The committed cluster level and this instance's own feature level (README, Rolling upgrade). */
        clusterLevel: number;
        level: number;
        /** Responses with a feature level outside the bounds, dropped. */
        forgedLevels: number;
        /** Leader: proposals followers forwarded that it replaced with a refusal for the state bound. */
        forwardedTooLarge: number;
      }
    | undefined;
  transportRejected(): Record<string, number>;
  /**
   * The transport's drops and rejections per peer (the configuration's peers, and "unknown" for
   * any other name), by reason; empty when there is no transport.
   */
  transportPeers(): ReadonlyMap<string, PeerCounters>;
  appMessagesRejected(): number;
  /** Outcome batches (breaker reports) this instance sent to, failed to send to, or received as, the leader. */
  outcomeBatches(): { sent: number; dropped: number; received: number };
  /** 1 when the local file's routing differs from the committed one. */
  drift(): boolean;
  /** Pools with panic status known (true = in panic). */
  panics(): ReadonlyMap<string, boolean>;
  /** Committed breaker state per member: 0 closed, 1 half-open, 2 open. */
  breakers(): Iterable<{ pool: string; member: string; state: number }>;
  /** Leader only: entries each peer's log is behind the leader's last index; empty elsewhere. */
  peerLag(): Iterable<{ peer: string; role: string; lag: number }>;
  /** Proposals made here that were refused, by reason (invalid, rejected, not_leader, no_leader, ...). */
  proposalsRefused(): Readonly<Record<string, number>>;
  /** Authenticated Raft messages refused for who sent them or what they hold, by reason (README, Raft, Refused traffic). */
  raftRefused(): Readonly<Record<RaftRefusedReason, number>>;
  /**
   * Leader: snapshots each follower refused (snapStatus), by the code it named; counted since
   * the process started, kept across terms (README, Raft, Refused snapshots).
   */
  snapshotsRefusedByPeers(): ReadonlyMap<string, Readonly<Record<SnapshotRefusalCode, number>>>;
  /** Messages the Raft core threw on (logged as step_error), and committed commands the state machine threw on. */
  raftErrors(): { step: number; apply: number };
}

export function registerClusterMetrics(registry: Registry, src: ClusterMetricsSource): void {
  const registers = [registry];
  const raftGauge = (
    name: string,
    help: string,
    pick: (r: NonNullable<ReturnType<typeof src.raft>>) => number,
  ) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const r = src.raft();
        if (r !== undefined) this.set(pick(r));
      },
    });
  raftGauge("shardgate_raft_term", "Current Raft term seen by this instance.", (r) => r.term);
  raftGauge("shardgate_raft_is_leader", "1 if this instance is the Raft leader.", (r) =>
    r.isLeader ? 1 : 0,
  );
  raftGauge("shardgate_raft_commit_index", "Highest Raft log index known committed.", (r) => r.commitIndex);
  raftGauge(
    "shardgate_raft_applied_index",
    "Highest Raft log index applied to the cluster state here.",
    (r) => r.appliedIndex,
  );
  raftGauge(
    "shardgate_cluster_level",
    "The committed cluster feature level: what every instance understands (rises once all run a newer version).",
    (r) => r.clusterLevel,
  );
  raftGauge(
    "shardgate_raft_feature_level",
    "The feature level this instance's version understands and advertises.",
    (r) => r.level,
  );
  // The five below count up from the process start in the transport, the cluster node and the
  // outcome shipper: counters, read from those numbers at scrape time (no prom-client child to
  // keep in step). They were gauges named *_total, which promtool and Prometheus' naming rules
  // refuse (rate() on a gauge is wrong, a *_total gauge is a counter in disguise).
  registerScrapeMetric(
    registry,
    "shardgate_raft_forged_levels_total",
    "Raft responses dropped because they advertised a feature level outside the bounds.",
    "counter",
    function* () {
      const r = src.raft();
      if (r !== undefined) yield { labels: {}, value: r.forgedLevels };
    },
  );
  // The leader's half of the state bound (README, Raft): a forwarded proposal it refused counts
  // here; the follower that proposed it counts the 409 in proposals_refused{state_too_large}.
  registerScrapeMetric(
    registry,
    "shardgate_raft_forwarded_too_large_total",
    "Leader: proposals forwarded by followers that this leader refused because they would take the cluster state past its bound.",
    "counter",
    function* () {
      const r = src.raft();
      if (r !== undefined) yield { labels: {}, value: r.forwardedTooLarge };
    },
  );
  registerScrapeMetric(
    registry,
    "shardgate_raft_transport_rejected_frames_total",
    "Raft transport frames/handshakes rejected, by reason: inbound ones drop the connection; oversized_send is a payload over the frame limit this instance refused to send.",
    "counter",
    function* () {
      for (const [reason, n] of Object.entries(src.transportRejected()))
        yield { labels: { reason }, value: n };
    },
  );
  registerScrapeMetric(
    registry,
    "shardgate_raft_transport_dropped_payloads_total",
    "Raft transport payloads to or from a peer dropped, by peer and reason: queue_full (displaced from a full queue), unreachable (queued for a lost connection, or past the few held while the peer is down), not_connected, cut, no_address, stopped. peer is a peer of the configuration, or unknown.",
    "counter",
    function* () {
      for (const [peer, p] of src.transportPeers())
        for (const [reason, n] of Object.entries(p.dropped)) yield { labels: { peer, reason }, value: n };
    },
  );
  registerScrapeMetric(
    registry,
    "shardgate_raft_transport_peer_rejected_total",
    "Raft transport frames/handshakes rejected, by peer and reason (forged: bad_mac, replay, bad_server_proof, ...; oversized; oversized_send). peer is the peer of the configuration the frame came from or was for, or unknown (a name outside it, a remote address, or a handshake that failed before the peer proved its name).",
    "counter",
    function* () {
      for (const [peer, p] of src.transportPeers())
        for (const [reason, n] of Object.entries(p.rejected)) yield { labels: { peer, reason }, value: n };
    },
  );
  registerScrapeMetric(
    registry,
    "shardgate_cluster_app_messages_rejected_total",
    "Application messages between instances (outcome batches, joins) rejected as malformed or forged.",
    "counter",
    function* () {
      yield { labels: {}, value: src.appMessagesRejected() };
    },
  );
  registerScrapeMetric(
    registry,
    "shardgate_cluster_outcome_batches_total",
    "Breaker outcome batches: sent to the leader, dropped (no leader or queue full), received as leader.",
    "counter",
    function* () {
      const b = src.outcomeBatches();
      yield { labels: { result: "sent" }, value: b.sent };
      yield { labels: { result: "dropped" }, value: b.dropped };
      yield { labels: { result: "received" }, value: b.received };
    },
  );
  registerScrapeMetric(
    registry,
    "shardgate_raft_proposals_refused_total",
    "Proposals made by this instance that were refused (invalid, rejected by the state machine, no leader, ...), by reason.",
    "counter",
    function* () {
      for (const [reason, n] of Object.entries(src.proposalsRefused()))
        yield { labels: { reason }, value: n };
    },
  );
  // The Raft driver counts these (config/raft imports nothing of ours, so they are read from
  // its counters here); they used to reach only the log, at most a line per peer per minute.
  registerScrapeMetric(registry, "shardgate_raft_refused_total", RAFT_REFUSED_HELP, "counter", function* () {
    const counts = src.raftRefused();
    for (const reason of RAFT_REFUSED_REASONS) yield { labels: { reason }, value: counts[reason] ?? 0 };
  });
  // The leader's side of a refused snapshot (the follower's is bad_snapshot / cluster_mismatch
  // above): every code for each peer that refused one, so the first refusal is an increase.
  // Peers are members and codes a fixed set (anything else a peer names counts as "other").
  registerScrapeMetric(
    registry,
    "shardgate_raft_snapshots_refused_by_peers_total",
    `Leader: snapshots a follower refused to install (it could not restore them), by peer and the code it named: ${SNAPSHOT_REFUSAL_CODES.join(", ")}.`,
    "counter",
    function* () {
      for (const [peer, byCode] of src.snapshotsRefusedByPeers())
        for (const reason of SNAPSHOT_REFUSAL_CODES)
          yield { labels: { peer, reason }, value: byCode[reason] };
    },
  );
  // Also driver counters. A step error is a message the core threw on (dropped, logged as refused
  // traffic); an apply error is a committed command the state machine threw on, which every
  // instance then skips alike: either one rising means a bug or a peer on a broken version.
  registerScrapeMetric(
    registry,
    "shardgate_raft_step_errors_total",
    "Raft messages dropped because the consensus core failed on them (logged as step_error refused traffic).",
    "counter",
    function* () {
      yield { labels: {}, value: src.raftErrors().step };
    },
  );
  registerScrapeMetric(
    registry,
    "shardgate_raft_apply_errors_total",
    "Committed Raft commands the cluster state machine failed to apply (skipped).",
    "counter",
    function* () {
      yield { labels: {}, value: src.raftErrors().apply };
    },
  );
  new Gauge({
    name: "shardgate_config_drift",
    help: "1 if this instance's config file routing (pools, routes) differs from the committed one.",
    registers,
    collect() {
      this.set(src.drift() ? 1 : 0);
    },
  });
  new Gauge({
    name: "shardgate_pool_panic",
    help: "1 while the pool's healthy-panic guard holds back unhealthy flips (reported by the leader).",
    labelNames: ["pool"],
    registers,
    collect() {
      this.reset();
      for (const [pool, panic] of src.panics()) this.set({ pool }, panic ? 1 : 0);
    },
  });
  new Gauge({
    name: "shardgate_raft_peer_lag_entries",
    help: "Leader only: how many log entries each peer is behind the leader's last index.",
    labelNames: ["peer", "role"],
    registers,
    collect() {
      this.reset();
      for (const p of src.peerLag()) this.set({ peer: p.peer, role: p.role }, p.lag);
    },
  });
  // One series per member: at 10,000 members a prom-client Gauge re-set 10,000 children
  // (a label hash each) and formatted them in one go, 40-100 ms of one scrape's event loop.
  // Read at scrape time instead, one sample at a time (the sliced /metrics, exposition-stream.ts).
  registerScrapeMetric(
    registry,
    "shardgate_breaker_state",
    "Committed circuit-breaker state per member: 0 closed, 1 half-open, 2 open.",
    "gauge",
    function* () {
      for (const b of src.breakers()) yield { labels: { pool: b.pool, member: b.member }, value: b.state };
    },
  );
}
