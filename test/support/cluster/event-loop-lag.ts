// An instance's worst event-loop stall since the last scrape, read from its own /metrics
// (prom-client's shardgate_nodejs_eventloop_lag_max_seconds; the histogram behind it is reset
// at every scrape). A test scrapes once to start a window and again to read it, so when a request
// to an instance times out under load, the report says whether that instance's loop stalled.

import { monitorEventLoopDelay } from "node:perf_hooks";
import { httpRequest } from "./http-client.js";

const LAG_MAX = /^shardgate_nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? (\S+)$/m;

/** The max event-loop lag (ms) since the previous scrape, or undefined when it cannot be read. */
export async function eventLoopLagMaxMs(adminUrl: string): Promise<number | undefined> {
  const r = await httpRequest(`${adminUrl}/metrics`, { timeoutMs: 10_000 }).catch(() => undefined);
  const m = r?.status === 200 ? LAG_MAX.exec(r.text) : null;
  if (m === null || m === undefined) return undefined;
  const s = Number(m[1]);
  return Number.isFinite(s) ? Math.round(s * 1000) : undefined;
}

/** "a=12ms b=3400ms ..." for the given instances (each scrape also starts a new window). */
export async function describeLag(nodes: ReadonlyArray<{ id: string; adminUrl: string }>): Promise<string> {
  const lags = await Promise.all(nodes.map((n) => eventLoopLagMaxMs(n.adminUrl)));
  return nodes.map((n, i) => `${n.id}=${lags[i] === undefined ? "?" : `${lags[i]}ms`}`).join(" ");
}

/**
 * This (test) process's own worst stall from now until the returned function is called: it runs
 * the load client, the upstreams and the API doubles, so a stall here delays answers too.
 */
export function watchOwnLag(): () => number {
  const h = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  return () => {
    h.disable();
    return Math.round(h.max / 1e6);
  };
}
