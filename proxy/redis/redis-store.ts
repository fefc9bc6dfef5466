// The shared store the edge features keep fleet-wide state in: one ioredis client (single
// node, Sentinel or Cluster) configured for a request path that must never hang on Redis:
//   - no offline queue: while disconnected a command fails at once instead of queueing;
//   - a low retry count and a command timeout: a slow Redis costs a request at most that;
//   - a breaker (store-breaker.ts): while Redis keeps failing, nothing is sent at all;
//   - reconnection forever with capped backoff: Redis back -> the client resumes by itself;
//   - a bound on one reply (reply-bound.ts): a connection whose reply grows past it is dropped.
// Every key is a storeKey() (store-key.ts); ioredis prepends `keyPrefix` to all keys.

import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import type { RedisConfig } from "../../config/file/edge-schema.js";
import type { LogSink } from "../../config/log-sink.js";
import { upstreamLookup } from "../net/bounded-lookup.js";
import { boundedConnector, namingLookup } from "./redis-connector.js";
import { DEFAULT_MAX_REPLY_BYTES, type ReplyLimit } from "./reply-bound.js";
import { boundedSentinelConnector } from "./sentinel-connector.js";
import { StoreBreaker } from "./store-breaker.js";
import { StoreStatus } from "./store-status.js";

/** A command not sent (breaker open, not connected) or failed; callers apply their store-error rule. */
export class StoreUnavailableError extends Error {
  readonly code = "store_unavailable";
}

const BREAKER_OPEN = new StoreUnavailableError("redis breaker open");
const NOT_READY = new StoreUnavailableError("redis not connected");
const RECONNECT_MAX_MS = 1_000;
/** How long close() waits for Redis to answer QUIT before it drops the connection. */
const QUIT_WAIT_MS = 500;

export interface LuaScript {
  readonly name: string;
  readonly keys: number;
  readonly lua: string;
}

type Client = Redis | Cluster;
type ScriptFn = (...args: Array<string | number | Buffer>) => Promise<unknown>;

export class RedisStore {
  readonly client: Client;
  readonly keyPrefix: string;
  private readonly breaker: StoreBreaker;
  private readonly status: StoreStatus;
  private closed = false;
  /** Connections dropped for a reply over `maxReplyBytes` (the metric reads it). */
  repliesTooLarge = 0;

  /** `limit`: the reply bound (default `cfg.maxReplyBytes`, else 4 MiB), read at each check. */
  constructor(
    cfg: RedisConfig,
    logger: LogSink,
    now: () => number = () => performance.now(),
    limit: ReplyLimit = { max: cfg.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES },
  ) {
    this.keyPrefix = cfg.keyPrefix;
    const tooLarge = (): void => {
      this.repliesTooLarge++;
      // Also here: a Cluster reports a node's connection error on its node only.
      if (!this.closed)
        this.status.failed(`redis reply larger than redis.maxReplyBytes (${limit.max}): connection dropped`);
    };
    const BoundedConnector = boundedConnector(limit, tooLarge);
    this.breaker = new StoreBreaker(cfg.breaker.failures, cfg.breaker.openFor, now);
    this.status = new StoreStatus(logger, now);
    const common: RedisOptions = {
      keyPrefix: cfg.keyPrefix,
      connectTimeout: cfg.connectTimeout,
      commandTimeout: cfg.commandTimeout,
      maxRetriesPerRequest: cfg.maxRetries,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), RECONNECT_MAX_MS),
    };
    if (cfg.cluster !== undefined) {
      const opts: ClusterOptions = {
        keyPrefix: cfg.keyPrefix,
        enableOfflineQueue: false,
        clusterRetryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), RECONNECT_MAX_MS),
        // Hostnames (the start-up nodes, nodes a cluster announces by name) resolve through
        // the bounded lookup, not getaddrinfo (redis-connector.ts says why). A start-up node
        // that does not resolve fails ioredis's connect without an `error` event, so the
        // store said nothing at all ("redis unavailable" never logged): reported here.
        dnsLookup: (hostname, callback) =>
          upstreamLookup.lookup(hostname, { family: 0 }, (err, address) => {
            if (err !== null && !this.closed)
              this.status.failed(`redis cluster node ${hostname}: ${err.message}`);
            callback(err, typeof address === "string" ? address : "");
          }),
        redisOptions: { ...common, keyPrefix: undefined, Connector: BoundedConnector },
      };
      this.client = new Cluster(
        cfg.cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
        opts,
      );
    } else if (cfg.sentinel !== undefined) {
      this.client = new Redis({
        ...common,
        name: cfg.sentinel.name,
        sentinels: cfg.sentinel.sentinels.map((s) => ({ host: s.host, port: s.port })),
        // Sentinels' and the master's hostnames through the bounded lookup (sentinel-connector.ts).
        Connector: boundedSentinelConnector(limit, tooLarge),
      });
    } else {
      // Its hostname resolves through the bounded lookup (redis-connector.ts).
      this.client = new Redis(cfg.url, { ...common, Connector: BoundedConnector });
    }
    // Without an error listener ioredis would crash the process on a connection error. Every
    // error counts, also before the first "ready" (a wrong password, Redis down at start).
    // A connect timeout while the name was still being resolved names the lookup.
    const host =
      cfg.cluster === undefined && cfg.sentinel === undefined
        ? (this.client as Redis).options.host
        : undefined;
    this.client.on("error", (err: Error) => {
      if (!this.closed) this.status.failed(namingLookup(err, host).message);
    });
    this.client.on("ready", () => {
      logger.info({}, "redis connected");
      this.status.succeeded();
    });
  }

  /** Registers a Lua script (EVALSHA, falling back to EVAL once per connection). */
  defineScript(s: LuaScript): void {
    this.client.defineCommand(s.name, { numberOfKeys: s.keys, lua: s.lua });
  }

  /** Runs a registered script through the breaker; rejects with StoreUnavailableError when not sent. */
  script<T>(name: string, args: Array<string | number | Buffer>): Promise<T> {
    const fn = (this.client as unknown as Record<string, ScriptFn>)[name];
    return this.run(() => fn.apply(this.client, args) as Promise<T>);
  }

  /** Runs `command` through the breaker (fails fast while it is open or Redis is not connected). */
  async run<T>(command: (c: Client) => Promise<T>): Promise<T> {
    if (this.closed || this.client.status !== "ready") throw NOT_READY;
    if (!this.breaker.allow()) throw BREAKER_OPEN;
    try {
      const v = await command(this.client);
      this.breaker.success();
      this.status.succeeded();
      return v;
    } catch (err) {
      this.breaker.failure();
      this.status.failed((err as Error).message);
      throw err;
    }
  }

  get ready(): boolean {
    return this.client.status === "ready";
  }

  get breakerOpen(): boolean {
    return this.breaker.open;
  }

  /** Connected, breaker closed and the last command (if any) succeeded: the `store_up` gauge. */
  get up(): boolean {
    return this.client.status === "ready" && !this.breaker.open && this.status.available;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // QUIT's reply comes after those of every command still pending: from a Redis that stopped
    // answering it never came, and the shutdown waited on it until the stop deadline ended the
    // process with exit 1 (test/outside/shutdown-edge-step.test.ts). The last request is gone
    // by now, so nothing is lost by not waiting longer.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, QUIT_WAIT_MS)));
    try {
      await Promise.race([this.client.quit(), late]);
    } catch {
      // Closed either way below.
    }
    clearTimeout(timer);
    if (this.client.status !== "end") this.client.disconnect();
  }
}
