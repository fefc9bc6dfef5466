// A member's live figures as GET /admin/live serves them (the dashboard's request rate and
// error ratio over the last window), read from a running shardgate's admin port.

import { eventually } from "./wait.js";

export interface LiveFigures {
  rate: number;
  errorRate: number;
}

/** The live figures of `member` of pool `users` (undefined until the window has any). */
export async function liveOf(adminUrl: string, member = "s1"): Promise<LiveFigures | undefined> {
  const body = (await (await fetch(`${adminUrl}/admin/live`)).json()) as {
    pools: Record<string, Record<string, LiveFigures>>;
  };
  return body.pools.users?.[member];
}

/**
 * Waits for a window with requests in it (the window is sampled every 500 ms): call it after
 * the requests it must cover. Resolves with that window's figures.
 */
export function liveWindow(adminUrl: string, member = "s1"): Promise<LiveFigures> {
  return eventually("a live window over the requests above", async () => {
    const l = await liveOf(adminUrl, member);
    return l !== undefined && l.rate > 0 ? l : undefined;
  });
}
