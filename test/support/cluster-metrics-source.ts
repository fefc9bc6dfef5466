// A cluster metrics source with fixed figures, for registering the cluster metrics without a
// running fleet: a leader at `level`, nothing refused or failed unless `refused` / `errors` say so.

import type { ClusterMetricsSource } from "../../proxy/metrics/cluster-metrics.js";

export function fixedClusterSource(o: {
  level?: number;
  refused?: ReturnType<ClusterMetricsSource["raftRefused"]>;
  errors?: { step: number; apply: number };
  snapshotsRefused?: ReturnType<ClusterMetricsSource["snapshotsRefusedByPeers"]>;
  forwardedTooLarge?: number;
}): ClusterMetricsSource {
  const level = o.level ?? 1;
  return {
    raft: () => ({
      term: 3,
      isLeader: true,
      commitIndex: 9,
      appliedIndex: 9,
      clusterLevel: level,
      level,
      forgedLevels: 0,
      forwardedTooLarge: o.forwardedTooLarge ?? 0,
    }),
    transportRejected: () => ({}),
    transportPeers: () => new Map(),
    appMessagesRejected: () => 0,
    outcomeBatches: () => ({ sent: 0, dropped: 0, received: 0 }),
    drift: () => false,
    panics: () => new Map(),
    breakers: () => [],
    peerLag: () => [],
    proposalsRefused: () => ({}),
    raftRefused: () => o.refused ?? ({} as ReturnType<ClusterMetricsSource["raftRefused"]>),
    snapshotsRefusedByPeers: () => o.snapshotsRefused ?? new Map(),
    raftErrors: () => o.errors ?? { step: 0, apply: 0 },
  };
}
