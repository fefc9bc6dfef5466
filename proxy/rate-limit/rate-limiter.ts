// placeholder replaced in the rate-limit step

import type { EdgeState } from "../edge/edge-state.js";
import type { RequestContext } from "../forward/request-context.js";
import type { EdgeContinuation } from "../forward/types.js";

export interface RateLimiter {
  admit(ctx: RequestContext, st: EdgeState, cont: EdgeContinuation): Promise<boolean>;
  onResponse(st: EdgeState, headers: Record<string, string | string[] | undefined>): void;
}
