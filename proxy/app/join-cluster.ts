// The instance's membership in the fleet: wires the Raft-backed ClusterNode to
// CommittedChanges (proxy/cluster/committed-changes.ts, which owns what an applied entry does
// to routing and metrics), plus the cluster gauges read at scrape time.

import type { RoutingConfig, ShardgateConfig } from "../../config/file/schema.js";
import type { ClusterStateData, StateChange } from "../../config/state/cluster-state.js";
import type { ConfigDrift } from "../../config/state/drift.js";
import { ClusterNode } from "../cluster/cluster-node.js";
import type { ClusterSettings } from "../cluster/cluster-settings.js";
import { CommittedChanges } from "../cluster/committed-changes.js";
import { type CommittedRouting, keyRulesAt } from "../cluster/committed-routing.js";
import type { OutcomeRecorders } from "../cluster/outcome-recorders.js";
import type { ProcessLogger } from "../logging/logger.js";
import { registerClusterMetrics } from "../metrics/cluster-metrics.js";
import type { ShardgateMetrics } from "../metrics/registry.js";
import type { SeriesCache } from "../metrics/series-cache.js";
import type { RingChangeLog } from "./ring-change-log.js";

export interface JoinOptions {
  settings: ClusterSettings;
  config: ShardgateConfig;
  log: ProcessLogger;
  metrics: ShardgateMetrics;
  series: SeriesCache;
  outcomes: OutcomeRecorders;
  routing: CommittedRouting;
  fileRouting(): RoutingConfig;
  drift(): ConfigDrift;
  /** Where applied ring changes are recorded with their cause (dashboard, /admin/changes). */
  changes?: RingChangeLog;
  /** Every applied entry, after this process applied it (data-plane workers apply it next). */
  afterApplied?: (change: StateChange | null, before: ClusterStateData, after: ClusterStateData) => void;
  /** This instance met its own descriptor or port limit (counted and shown by DescriptorLimits). */
  onLocalShortage?: (op: string, code: string) => void;
  /** The committed cluster level rose (after routing switched to its key rules). */
  onClusterLevel?: (level: number) => void;
}

const BREAKER_GAUGE = { closed: 0, "half-open": 1, open: 2 } as const;

/** Creates the node (not started) and registers the cluster metrics. */
export function joinCluster(o: JoinOptions): ClusterNode {
  const logger = o.log.logger;
  const clusterLog = logger.child({ component: "cluster" });
  const committed = new CommittedChanges({
    routing: o.routing,
    log: logger,
    clusterLog,
    metrics: o.metrics,
    series: o.series,
    changes: o.changes,
  });
  const node = new ClusterNode({
    settings: o.settings,
    logger: clusterLog,
    fileRouting: o.fileRouting,
    agent: o.config.discovery.consul,
    discoveryDebounceMs: o.config.discovery.debounce,
    outcomes: o.outcomes,
    flushLogs: () => o.log.flush(),
    onLocalShortage: o.onLocalShortage,
    onClusterLevel(level) {
      // The key spelling rules follow the committed level at the index that raised it.
      const rules = keyRulesAt(level);
      if (o.routing.setKeyRules(rules))
        clusterLog.info({ clusterLevel: level, keyRules: rules }, "key rules switched");
      o.onClusterLevel?.(level);
    },
    onCannotJoin(reason) {
      // Nothing to serve and nobody to ask: exit non-zero with the reason (a supervisor sees it).
      process.stderr.write(`shardgate: ${reason}\n`);
      void o.log.flushWithin(1_000).then(() => process.exit(1));
    },
    onApplied: (change, before, after) => {
      committed.applied(change, before, after);
      o.afterApplied?.(change, before, after);
    },
    onPanic(pool, panic) {
      clusterLog[panic ? "warn" : "info"](
        { pool, panic },
        panic ? "pool in healthy panic" : "pool left healthy panic",
      );
    },
  });
  registerClusterMetrics(o.metrics.registry, {
    raft() {
      try {
        const s = node.driver.status();
        return {
          term: s.term,
          isLeader: s.role === "leader",
          commitIndex: s.commitIndex,
          appliedIndex: s.appliedIndex,
          clusterLevel: s.clusterLevel,
          level: s.level,
          forgedLevels: node.driver.counters.forgedLevels,
          forwardedTooLarge: node.driver.counters.forwardedTooLarge,
        };
      } catch {
        return undefined;
      }
    },
    transportRejected: () => node.transportRejected(),
    transportPeers: () => node.transportPeers(),
    appMessagesRejected: () => node.appMessagesRejected(),
    outcomeBatches: () => ({
      sent: node.counters.batchesSent,
      dropped: node.counters.batchesDropped,
      received: node.counters.batchesReceived,
    }),
    drift: () => o.drift().drift,
    panics: () => node.panics,
    *peerLag() {
      let s: ReturnType<typeof node.driver.status>;
      try {
        s = node.driver.status();
      } catch {
        return;
      }
      if (s.role !== "leader") return;
      for (const [peer, p] of Object.entries(s.peers))
        if (p.match !== undefined)
          yield {
            peer,
            role: s.voters.includes(peer) ? "voter" : "learner",
            lag: Math.max(0, s.lastIndex - p.match),
          };
    },
    proposalsRefused: () => node.proposalsRefused,
    raftRefused() {
      // Reasons named as in the refusal log lines. Forged levels and transport rejections
      // have their own families (raft_forged_levels_total, raft_transport_rejected_frames_total).
      const c = node.driver.counters;
      return { ...c.refused, spoofed_sender: c.spoofedMessages, undecodable: c.undecodablePayloads };
    },
    snapshotsRefusedByPeers: () => node.driver.counters.snapshotsRefusedByPeer,
    raftErrors: () => ({ step: node.driver.counters.stepErrors, apply: node.driver.counters.applyErrors }),
    *breakers() {
      for (const [pool, p] of Object.entries(node.state.pools))
        for (const m of p.members) yield { pool, member: m.id, state: BREAKER_GAUGE[m.breaker.state] };
    },
  });
  return node;
}

/** Resolves once routing comes from a committed state (true), or after `ms` (false). */
export function waitCommitted(routing: CommittedRouting, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  return new Promise((resolve) => {
    const check = () => {
      if (routing.applied) return resolve(true);
      if (performance.now() > end) return resolve(false);
      setTimeout(check, 10);
    };
    check();
  });
}
