// The in-process proxy harness with edge features wired as the app wires them (metrics on a
// registry of their own, a cookie key from a given secret, optionally a Redis store).

import { Registry } from "prom-client";
import { redisSchema } from "../../config/file/edge-schema.js";
import { configSchema, type ShardgateConfigInput } from "../../config/file/schema.js";
import type { LogSink } from "../../config/log-sink.js";
import { CookieCodec } from "../../proxy/affinity/cookie-codec.js";
import { EdgeEngine } from "../../proxy/edge/edge-engine.js";
import { EdgeMetrics } from "../../proxy/edge/edge-metrics.js";
import { RedisStore } from "../../proxy/redis/redis-store.js";
import type { KeyRules } from "../../proxy/routing/key-extract.js";
import { buildRoutingState } from "../../proxy/routing/routing-state.js";
import { type Harness, startHarness } from "../proxy/harness.js";
import { eventually } from "../support/wait.js";

export interface EdgeHarness extends Harness {
  engine: EdgeEngine;
  registry: Registry;
  codec: CookieCodec;
  store: RedisStore | null;
  /**
   * Replaces the pools and routes (a scale-out, a config change) as a new ring version, its keys
   * read by `keyRules` (default the current ones; "v3" as below cluster level 4).
   */
  setConfig(config: ShardgateConfigInput, keyRules?: KeyRules): void;
  /** setConfig of the harness's own pools and routes (`config` over its members), keys read by `keyRules`. */
  setKeyRules(keyRules: KeyRules): void;
}

export async function startEdgeHarness(opts: {
  members?: number;
  secret?: string;
  /** The shared Redis (redis://...); absent = no store. */
  redisUrl?: string;
  /** Extra redis section fields (keyPrefix, commandTimeout, breaker...). */
  redis?: Record<string, unknown>;
  config: (members: Array<{ id: string; address: string }>) => ShardgateConfigInput;
  /** Where the edge engine logs (default: nowhere). */
  logger?: LogSink;
}): Promise<EdgeHarness> {
  const registry = new Registry();
  const codec = new CookieCodec(opts.secret ?? "a-test-secret-of-some-length");
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const store =
    opts.redisUrl === undefined
      ? null
      : new RedisStore(
          // A generous command timeout: the suite runs on a loaded, shared machine; tests of
          // the timeout itself pass their own.
          redisSchema.parse({ url: opts.redisUrl, keyPrefix: "t:", commandTimeout: "3s", ...opts.redis }),
          silent,
        );
  if (store !== null)
    await eventually("the test's Redis store to connect", () => (store.ready ? true : undefined));
  const engine = new EdgeEngine({
    metrics: new EdgeMetrics(registry),
    codec,
    logger: opts.logger ?? silent,
    store,
  });
  const h = await startHarness({ members: opts.members, config: opts.config, edge: engine });
  let version = 100;
  const close = h.close;
  return Object.assign(h, {
    engine,
    registry,
    codec,
    store,
    setConfig(input: ShardgateConfigInput, keyRules?: KeyRules) {
      const c = configSchema.parse(input);
      h.holder.apply(
        buildRoutingState({ pools: c.pools, routes: c.routes, ringVersion: version++, keyRules }),
      );
    },
    setKeyRules(this: EdgeHarness, keyRules: KeyRules) {
      const members = h.upstreams.map((u) => ({ id: u.id, address: `127.0.0.1:${u.port}` }));
      this.setConfig(opts.config(members), keyRules);
    },
    async close() {
      await close();
      await store?.close();
    },
  });
}

/** "name=value" of a Set-Cookie header for `name`, or undefined. */
export function setCookieValue(headers: Record<string, unknown>, name: string): string | undefined {
  const raw = headers["set-cookie"];
  const list = Array.isArray(raw) ? raw : typeof raw === "string" ? [raw] : [];
  for (const c of list as string[]) {
    if (c.startsWith(`${name}=`)) return c.slice(name.length + 1, c.indexOf(";"));
  }
  return undefined;
}
