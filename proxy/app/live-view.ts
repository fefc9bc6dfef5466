// GET /admin/live: every member's in-flight count and its windowed rate, error rate and
// latency quantiles on this instance (see metrics/live-window.ts). Read by the dashboard.

import type { LiveView, MemberLiveView } from "../admin/ops-types.js";
import type { MetricsObserver } from "../metrics/observer.js";
import type { SeriesCache } from "../metrics/series-cache.js";

export function liveView(series: SeriesCache, observer: MetricsObserver): LiveView {
  const now = performance.now();
  const inFlight = observer.inFlightByMember();
  const pools: LiveView["pools"] = {};
  for (const name of series.poolNames()) {
    const out: Record<string, MemberLiveView> = {};
    for (const [id, ms] of series.pool(name).members) {
      out[id] = { inFlight: inFlight.get(name)?.get(id) ?? 0, ...ms.window.read(now) };
    }
    pools[name] = out;
  }
  return { windowSeconds: 10, pools };
}
