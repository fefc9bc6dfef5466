// One real shardgate per forwarding engine (SHARDGATE_ENGINE undici and http-proxy) in front of
// one member, with the access log on: the outside tries on the upstream side run each case
// through both engines. The caller stops them (stopAll in shardgate-process.ts).

import { createServer, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import { type RunningShardgate, startShardgate } from "./shardgate-process.js";

export const ENGINES = ["undici", "http-proxy"] as const;
export type Engine = (typeof ENGINES)[number];

export interface PerEngineOptions {
  /** Added to the route as they are (e.g. "onMissingKey: reject"). */
  routeLines?: readonly string[];
  /** Added inside the `listen: { ... }` braces as it is (e.g. ", tls: { cert: ..., key: ... }"). */
  listenExtra?: string;
  /** The engines to start (all by default). */
  engines?: readonly Engine[];
}

/**
 * Starts a shardgate per engine whose pool `users` has one member at 127.0.0.1:`port`, keyed
 * by `x-user-id`; `poolLines` are added to the pool as they are (e.g. "timeouts: { response: 10s }").
 */
export async function startPerEngine(
  port: number,
  poolLines: readonly string[],
  o: PerEngineOptions = {},
): Promise<Map<Engine, RunningShardgate>> {
  const running = new Map<Engine, RunningShardgate>();
  const extra = poolLines.map((l) => `    ${l}\n`).join("");
  const routeExtra = (o.routeLines ?? []).map((l) => `    ${l}\n`).join("");
  for (const engine of o.engines ?? ENGINES) {
    const sg = await startShardgate(
      `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0${o.listenExtra ?? ""} }
log: { level: info, accessLog: true }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:${port}" }]
${extra}routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
${routeExtra}`,
      { env: { SHARDGATE_ENGINE: engine } },
    );
    running.set(engine, sg);
  }
  return running;
}

export interface PerEngineBehind {
  running: Map<Engine, RunningShardgate>;
  /** Closes the upstream and its connections (the shardgates are stopped by stopAll). */
  closeUpstream(): Promise<void>;
}

/**
 * A node:http upstream answering with `handler` on a free loopback port, and startPerEngine in
 * front of it (same `poolLines` and options). If a shardgate fails to start, the upstream is
 * closed before the error is thrown.
 */
export async function startPerEngineBehind(
  handler: RequestListener,
  poolLines: readonly string[] = [],
  o: PerEngineOptions = {},
): Promise<PerEngineBehind> {
  const upstream = createServer(handler);
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const closeUpstream = async (): Promise<void> => {
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  };
  try {
    const running = await startPerEngine((upstream.address() as AddressInfo).port, poolLines, o);
    return { running, closeUpstream };
  } catch (err) {
    await closeUpstream();
    throw err;
  }
}
