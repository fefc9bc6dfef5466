// GET /admin/live: every member's in-flight count and its windowed rate, error rate and
// latency quantiles on this instance (see metrics/live-window.ts). Read by the dashboard, for
// the members of the page it shows only: reading a 10,000-member pool whole held the event loop
// for 100+ ms, once per update of every open page.

import type { LiveFilter, LiveView, MemberLiveView } from "../admin/ops-types.js";
import type { MetricsObserver } from "../metrics/observer.js";
import type { SeriesCache } from "../metrics/series-cache.js";

export function liveView(series: SeriesCache, observer: MetricsObserver, only?: LiveFilter): LiveView {
  const now = performance.now();
  const inFlight = observer.inFlightByMember();
  const pools: LiveView["pools"] = {};
  for (const name of only === undefined ? series.poolNames() : [only.pool]) {
    const members = series.pool(name).members;
    const out: Record<string, MemberLiveView> = {};
    const figures = (id: string, ms: NonNullable<ReturnType<typeof members.get>>) => {
      out[id] = { inFlight: inFlight.get(name)?.get(id) ?? 0, ...ms.window.read(now) };
    };
    if (only === undefined) for (const [id, ms] of members) figures(id, ms);
    else
      for (const id of only.ids) {
        const ms = members.get(id);
        if (ms !== undefined) figures(id, ms);
      }
    pools[name] = out;
  }
  return { windowSeconds: 10, pools };
}

/**
 * `view` cut down to `only`. With `workers: N` the primary sums every worker's figures and
 * prunes departed members as it does, so it reads them all and hands back the page's.
 */
export function pickLive(view: LiveView, only?: LiveFilter): LiveView {
  if (only === undefined) return view;
  const all = view.pools[only.pool] ?? {};
  const out: Record<string, MemberLiveView> = {};
  for (const id of only.ids) if (all[id] !== undefined) out[id] = all[id];
  return { windowSeconds: view.windowSeconds, pools: { [only.pool]: out } };
}
