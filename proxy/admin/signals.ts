// The dashboard's "Signals" panel: a few metric families read straight from this process's
// registry (no exposition text is written), shipped in GET /admin/dashboard. The upstream
// hostname lookup's figures (shardgate_dns_*), snapshots the followers refused (on the
// leader), and the connections and answers lost to clients by code, downstream_disconnected
// among them. Counters are totals since start; the page turns two polls into a rate.

import type { Registry } from "prom-client";

/** The families the panel shows, in its order. */
export const SIGNAL_FAMILIES = [
  "shardgate_dns_queries_total",
  "shardgate_dns_cache_hits_total",
  "shardgate_dns_getaddrinfo_calls_total",
  "shardgate_dns_getaddrinfo_in_flight",
  "shardgate_dns_timeouts_total",
  "shardgate_dns_failures_total",
  "shardgate_raft_snapshots_refused_by_peers_total",
  "shardgate_downstream_client_errors_total",
] as const;

export interface SignalSample {
  labels: Record<string, string>;
  value: number;
}

/** Each family's samples; a family this process does not export (no cluster, say) is absent. */
export type SignalsView = Record<string, SignalSample[]>;

/** Reads SIGNAL_FAMILIES from `registry`; a family that fails to read is left out. */
export async function readSignals(registry: Pick<Registry, "getSingleMetric">): Promise<SignalsView> {
  const out: SignalsView = {};
  for (const name of SIGNAL_FAMILIES) {
    const metric = registry.getSingleMetric(name);
    if (metric === undefined) continue;
    try {
      const got = await metric.get();
      out[name] = got.values.map((v) => ({
        labels: Object.fromEntries(Object.entries(v.labels).map(([k, l]) => [k, String(l)])),
        value: v.value,
      }));
    } catch {
      // One family's reader failing must not take the whole dashboard feed down.
    }
  }
  return out;
}
