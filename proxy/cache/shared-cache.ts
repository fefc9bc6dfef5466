// placeholder replaced in the cache step
import type { IncomingMessage } from "node:http";
import type { EdgeState } from "../edge/edge-state.js";
import type { RequestContext } from "../forward/request-context.js";

export interface SharedCache {
  serve(ctx: RequestContext, st: EdgeState): Promise<boolean>;
  onResponse(ctx: RequestContext, st: EdgeState, proxyRes: IncomingMessage): void;
}
