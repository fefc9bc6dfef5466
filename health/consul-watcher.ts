// Watches one Consul service with a blocking-query loop on /v1/health/service/:name and keeps
// a reconciled member view, emitting +member / -member / ~member / health / update events.
//
// Why not consul.watch(): it starts the next request at once with no rate limit, so a
// churning service or a server that answers immediately turns it into a busy loop (the
// fabiolb/fabio#627 failure). Here every request first takes a token from a token bucket,
// errors back off exponentially with seeded jitter, and the index follows Consul's rules:
// reset to 0 when it goes backwards, never below 1 after an answer.

import { EventEmitter } from "node:events";
import Consul from "consul";
import { errorWithCode } from "../config/coded-error.js";
import { seededRandom } from "../ring/random.js";
import { backoffDelay } from "./backoff.js";
import {
  type DiscoveredMember,
  diffMembers,
  isEmptyDiff,
  type MemberDiff,
  parseHealthEntries,
} from "./consul-members.js";
import { TokenBucket } from "./token-bucket.js";
import { WatchLoop, type WatchLoopOptions } from "./watch-loop.js";

export type { CheckStatus, DiscoveredMember, MemberDiff } from "./consul-members.js";

/** pino-compatible: `logger.warn({ ...fields }, "message")`. */
export interface HealthLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const SILENT: HealthLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface ConsulWatcherOptions extends WatchLoopOptions {
  /** Service name to watch (required, non-empty). */
  service: string;
  /** Consul HTTP API host (default 127.0.0.1) and port (default 8500). */
  host?: string;
  port?: number;
  /** Use https (default false). */
  secure?: boolean;
  /** ACL token, sent as X-Consul-Token. */
  token?: string;
  /** Datacenter (?dc=). */
  datacenter?: string;
  /** Only entries carrying all these tags (?tag=, repeatable). */
  tags?: readonly string[];
  /** Consul filter expression (?filter=), e.g. `Service.Meta.shard == "a"`. */
  filter?: string;
  /** Ask Consul for passing entries only (?passing): non-passing members disappear instead of turning unhealthy. */
  passingOnly?: boolean;
  /** Whether a member whose worst check is `warning` is healthy (default true). */
  warningIsHealthy?: boolean;
  /** Blocking wait per request in ms (default 60000; Consul clamps to its max_query_time). */
  waitMs?: number;
  /** An existing client (its host/port/token defaults are then used as they are). */
  client?: Consul;
}

export interface WatcherStatus {
  readonly service: string;
  readonly running: boolean;
  /** True once one answer has been applied. */
  readonly synced: boolean;
  /** The index the next request will send. */
  readonly index: number;
  readonly members: number;
  readonly healthyMembers: number;
  /** Wall-clock ms of the last good answer, or undefined. */
  readonly lastSuccessAt: number | undefined;
  readonly lastError: string | undefined;
  readonly lastErrorAt: number | undefined;
  readonly consecutiveErrors: number;
  /** Requests sent so far (answers and failures). */
  readonly requests: number;
  /** Times the index went backwards and was reset to 0. */
  readonly indexResets: number;
}

/** Payload of the `update` event: the full desired set plus the diff that produced it. */
export interface MembershipUpdate {
  readonly service: string;
  readonly index: number;
  /** Every member, sorted by id. */
  readonly members: readonly DiscoveredMember[];
  readonly diff: MemberDiff;
}

export interface ConsulWatcherEvents {
  "+member": [member: DiscoveredMember];
  "-member": [member: DiscoveredMember];
  "~member": [after: DiscoveredMember, before: DiscoveredMember];
  health: [member: DiscoveredMember, healthy: boolean];
  update: [update: MembershipUpdate];
}

export class ConsulWatcherConfigError extends Error {
  readonly code = "HEALTH_INVALID_CONSUL_OPTIONS";
  override name = "ConsulWatcherConfigError";
}

function positive(name: string, v: number | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) {
    throw new ConsulWatcherConfigError(
      `consul watcher: ${name} must be a number >= ${min}, got ${String(v)}`,
    );
  }
  return v;
}

export class ConsulWatcher extends WatchLoop<ConsulWatcherEvents> {
  readonly service: string;
  private readonly client: Consul;
  private readonly ownsClient: boolean;
  private readonly opts: ConsulWatcherOptions;
  private readonly waitMs: number;
  private readonly requestTimeoutMs: number;
  private readonly bucket: TokenBucket;
  private readonly random: () => number;
  private readonly backoff: { baseMs: number; maxMs: number };
  private readonly log: HealthLogger;
  private readonly wall: () => number;
  private readonly warningIsHealthy: boolean;
  private readonly ctx: EventEmitter & { includeResponse: boolean };
  private view: ReadonlyMap<string, DiscoveredMember> = new Map();
  private index = 0;
  private lastSuccessAt: number | undefined;
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;
  private consecutiveErrors = 0;
  private requests = 0;
  private indexResets = 0;
  private lastWarnings = "";

  constructor(opts: ConsulWatcherOptions) {
    super();
    if (opts === null || typeof opts !== "object")
      throw new ConsulWatcherConfigError("consul watcher: options object required");
    if (typeof opts.service !== "string" || opts.service.trim() === "") {
      throw new ConsulWatcherConfigError("consul watcher: service must be a non-empty string");
    }
    if (opts.port !== undefined && (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535)) {
      throw new ConsulWatcherConfigError(
        `consul watcher: port must be an integer 1..65535, got ${String(opts.port)}`,
      );
    }
    if (
      opts.tags !== undefined &&
      (!Array.isArray(opts.tags) || opts.tags.some((t) => typeof t !== "string" || t === ""))
    ) {
      throw new ConsulWatcherConfigError("consul watcher: tags must be an array of non-empty strings");
    }
    if (opts.filter !== undefined && typeof opts.filter !== "string") {
      throw new ConsulWatcherConfigError("consul watcher: filter must be a string");
    }
    this.service = opts.service;
    this.opts = opts;
    this.waitMs = Math.floor(positive("waitMs", opts.waitMs, 60_000));
    // Consul may add up to wait/16 of jitter; anything much beyond that is a hung connection.
    this.requestTimeoutMs = this.waitMs + Math.ceil(this.waitMs / 16) + 10_000;
    const now = opts.now ?? (() => performance.now());
    this.bucket = new TokenBucket(
      positive("ratePerSec", opts.ratePerSec, 2, 0.001),
      positive("rateBurst", opts.rateBurst, 4),
      now,
    );
    const baseMs = positive("backoffBaseMs", opts.backoffBaseMs, 500);
    this.backoff = { baseMs, maxMs: positive("backoffMaxMs", opts.backoffMaxMs, 30_000, baseMs) };
    this.random = seededRandom(opts.seed ?? 1);
    this.log = opts.logger ?? SILENT;
    this.wall = opts.wallClock ?? Date.now;
    this.warningIsHealthy = opts.warningIsHealthy ?? true;
    if (opts.client !== undefined) {
      this.client = opts.client;
      this.ownsClient = false;
    } else {
      this.client = new Consul({
        host: opts.host ?? "127.0.0.1",
        port: opts.port ?? 8500,
        secure: opts.secure ?? false,
      });
      this.ownsClient = true;
    }
    // papi aborts an in-flight request when its ctx emits "cancel"; includeResponse makes
    // the client resolve [response, body] so we can read X-Consul-Index.
    this.ctx = Object.assign(new EventEmitter(), { includeResponse: true });
  }

  protected interrupt(): void {
    this.ctx.emit("cancel");
  }

  protected override afterStop(): void {
    if (this.ownsClient) this.client.destroy();
  }

  /** The current member view, sorted by id. */
  members(): readonly DiscoveredMember[] {
    return [...this.view.values()];
  }

  status(): WatcherStatus {
    let healthy = 0;
    for (const m of this.view.values()) if (m.healthy) healthy++;
    return {
      service: this.service,
      running: this.running,
      synced: this.synced,
      index: this.index,
      members: this.view.size,
      healthyMembers: healthy,
      lastSuccessAt: this.lastSuccessAt,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      consecutiveErrors: this.consecutiveErrors,
      requests: this.requests,
      indexResets: this.indexResets,
    };
  }

  protected async loop(): Promise<void> {
    while (this.running) {
      const wait = this.bucket.take();
      if (wait > 0) {
        await this.pause.sleep(wait);
        continue;
      }
      let res: { headers: Record<string, string | string[] | undefined> };
      let body: unknown;
      this.requests++;
      try {
        const out = (await this.client.health.service(this.requestOptions())) as unknown as [
          typeof res,
          unknown,
        ];
        [res, body] = out;
      } catch (err) {
        if (!this.running) break;
        this.onError(err);
        await this.pause.sleep(backoffDelay(this.consecutiveErrors, this.backoff, this.random));
        continue;
      }
      if (!this.running) break;
      try {
        this.apply(res.headers["x-consul-index"], body);
      } catch (err) {
        this.onError(err);
        await this.pause.sleep(backoffDelay(this.consecutiveErrors, this.backoff, this.random));
      }
    }
  }

  /** Only keys with values: the client serialises an undefined `filter` as `filter=`. */
  private requestOptions(): Parameters<Consul["health"]["service"]>[0] {
    const o: Record<string, unknown> = {
      service: this.service,
      // After a failure, read at once instead of blocking on the old index: the view is
      // refreshed (and recovery noticed) as soon as Consul answers again.
      index: this.consecutiveErrors > 0 ? "0" : String(this.index),
      wait: `${this.waitMs}ms`,
      timeout: this.requestTimeoutMs,
      ctx: this.ctx,
    };
    if (this.opts.datacenter) o.dc = this.opts.datacenter;
    if (this.opts.tags !== undefined && this.opts.tags.length > 0) o.tag = [...this.opts.tags];
    if (this.opts.filter) o.filter = this.opts.filter;
    if (this.opts.passingOnly) o.passing = true;
    if (this.opts.token) o.token = this.opts.token;
    return o as unknown as Parameters<Consul["health"]["service"]>[0];
  }

  private onError(err: unknown): void {
    this.consecutiveErrors++;
    this.lastError = errorWithCode(err);
    this.lastErrorAt = this.wall();
    const fields = { service: this.service, consecutiveErrors: this.consecutiveErrors, err: this.lastError };
    // The first failure of a streak is worth a warning; the rest would flood the log.
    if (this.consecutiveErrors === 1)
      this.log.warn(fields, "consul watch failed; keeping the last member view");
    else this.log.debug(fields, "consul watch still failing");
  }

  private apply(rawIndex: string | string[] | undefined, body: unknown): void {
    const parsed = parseHealthEntries(body, this.warningIsHealthy, this.view);
    const text = Array.isArray(rawIndex) ? rawIndex[0] : rawIndex;
    const n = text !== undefined && /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(n)) {
      this.log.warn(
        { service: this.service, index: text },
        "consul answer without a usable X-Consul-Index; next query will not block",
      );
      this.index = 0;
    } else if (n < this.index) {
      // A snapshot restore or a different server: the docs say start over from 0.
      this.indexResets++;
      this.log.info(
        { service: this.service, from: this.index, to: n },
        "consul index went backwards; resetting",
      );
      this.index = 0;
    } else {
      this.index = Math.max(1, n);
    }
    // Log a problem once when it appears, not on every answer while it lasts.
    const warnKey = parsed.warnings.join("\n");
    if (warnKey !== this.lastWarnings) {
      for (const w of parsed.warnings) this.log.warn({ service: this.service }, w);
      this.lastWarnings = warnKey;
    }
    if (this.consecutiveErrors > 0) {
      this.log.info({ service: this.service, after: this.consecutiveErrors }, "consul watch recovered");
    }
    this.consecutiveErrors = 0;
    this.lastSuccessAt = this.wall();
    const diff = diffMembers(this.view, parsed.members);
    this.view = parsed.members;
    const firstSync = this.markSynced();
    if (isEmptyDiff(diff) && !firstSync) return;
    for (const m of diff.removed) this.emit("-member", m);
    for (const m of diff.added) this.emit("+member", m);
    for (const c of diff.changed) this.emit("~member", c.after, c.before);
    for (const h of diff.health) this.emit("health", h.member, h.member.healthy);
    this.emit("update", { service: this.service, index: this.index, members: [...this.view.values()], diff });
    if (firstSync) this.resolveFirstSync();
  }
}
