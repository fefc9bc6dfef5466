// Watches one Consul service with a blocking-query loop on /v1/health/service/:name and keeps
// a reconciled member view, emitting +member / -member / ~member / health / update events.
//
// Why not consul.watch(): it starts the next request at once with no rate limit, so a
// churning service or a server that answers immediately turns it into a busy loop (the
// fabiolb/fabio#627 failure). Here every request first takes a token from a token bucket,
// errors back off exponentially with seeded jitter, and the index follows Consul's rules:
// reset to 0 when it goes backwards, never below 1 after an answer. The request itself
// (consul-health-query.ts) goes through the `consul` client with papi's `pipe`: the answer
// streams into the entry-by-entry decoder.

import { errorWithCode } from "../config/coded-error.js";
import type { ConsulAgentConfig, PoolConsulDiscovery } from "../config/file/schema.js";
import type { LogSink } from "../config/log-sink.js";
import { backoffDelay } from "./backoff.js";
import { type AlignedAnswer, alignedAnswer, parseAligned } from "./consul-aligned-answer.js";
import { ConsulAnswerCache } from "./consul-answer-cache.js";
import { ConsulHealthClient, type HealthAnswer, type HealthQuery } from "./consul-health-query.js";
import {
  type DiscoveredMember,
  diffMembers,
  type EntryMemo,
  isEmptyDiff,
  type MemberDiff,
  parseHealthEntries,
} from "./consul-members.js";
import type { TokenBucket } from "./token-bucket.js";
import { logWarnings } from "./warning-summary.js";
import { pacing, WatchLoop, type WatchLoopOptions } from "./watch-loop.js";

export type { CheckStatus, DiscoveredMember, MemberDiff } from "./consul-members.js";

export interface ConsulWatcherOptions extends WatchLoopOptions {
  /** The pool's `discovery.consul` section as the config schema produced it. */
  discovery: PoolConsulDiscovery;
  /** This instance's `discovery.consul` agent section as the config schema produced it. */
  agent: ConsulAgentConfig;
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
  /**
   * Ms from the arrival of the answer that carried this change (its head) to this event: the
   * time spent reading and decoding it. The membership controller's debounce window counts
   * from the arrival, so that work overlaps the window instead of adding to it.
   */
  readonly ageMs?: number;
}

export interface ConsulWatcherEvents {
  "+member": [member: DiscoveredMember];
  "-member": [member: DiscoveredMember];
  "~member": [after: DiscoveredMember, before: DiscoveredMember];
  health: [member: DiscoveredMember, healthy: boolean];
  update: [update: MembershipUpdate];
}

export class ConsulWatcher extends WatchLoop<ConsulWatcherEvents> {
  readonly service: string;
  private readonly client: ConsulHealthClient;
  private readonly discovery: PoolConsulDiscovery;
  private readonly datacenter: string | undefined;
  private readonly wait: number;
  private readonly requestTimeoutMs: number;
  private readonly bucket: TokenBucket;
  private readonly random: () => number;
  private readonly backoff: { baseMs: number; maxMs: number };
  private readonly log: LogSink;
  private readonly wall: () => number;
  private readonly warningIsHealthy: boolean;
  private readonly onRequestError: (() => void) | undefined;
  private readonly onResync: WatchLoopOptions["onResync"];
  private view: ReadonlyMap<string, DiscoveredMember> = new Map();
  private index = 0;
  private lastSuccessAt: number | undefined;
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;
  private consecutiveErrors = 0;
  private requests = 0;
  private indexResets = 0;
  /** Consecutive answers without a usable X-Consul-Index (0 once one has it again). */
  private badIndexAnswers = 0;
  private lastWarnings = "";
  /** Entry-by-entry JSON decoding of the answers as they stream in. */
  private readonly answers = new ConsulAnswerCache();
  /** What each decoded entry object became: unchanged entries are not read again. */
  private readonly entryMemo: EntryMemo = new WeakMap();
  /** The last answer's entries with their members, while it parsed clean (see consul-aligned-answer.ts). */
  private aligned: AlignedAnswer | undefined;

  constructor(opts: ConsulWatcherOptions) {
    super();
    const { discovery, agent } = opts;
    this.service = discovery.service;
    this.discovery = discovery;
    this.datacenter = discovery.datacenter ?? agent.datacenter;
    this.wait = agent.wait;
    // Consul may add up to wait/16 of jitter; anything much beyond that is a hung connection.
    this.requestTimeoutMs = this.wait + Math.ceil(this.wait / 16) + 10_000;
    ({
      bucket: this.bucket,
      backoff: this.backoff,
      random: this.random,
      log: this.log,
      wall: this.wall,
    } = pacing("consul watcher", agent.rateLimit, opts));
    // The watcher never asks Consul for ?passing: a member that went critical must stay a
    // member (a health flip the panic guard can hold back), not vanish as if deregistered.
    // passingOnly is applied by counting a warning as unhealthy too.
    this.warningIsHealthy = discovery.warningIsHealthy && !discovery.passingOnly;
    this.onRequestError = opts.onRequestError;
    this.onResync = opts.onResync;
    this.client = new ConsulHealthClient(agent.address, agent.token, this.requestTimeoutMs, opts.lookup);
  }

  protected interrupt(): void {
    this.client.abort();
  }

  protected override afterStop(): void {
    void this.client.close();
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
      const delay = this.bucket.take();
      if (delay > 0) {
        await this.pause.sleep(delay);
        continue;
      }
      let answer: HealthAnswer;
      this.requests++;
      try {
        answer = await this.client.query(this.query(), this.answers);
      } catch (err) {
        if (!this.running) break;
        this.onError(err);
        await this.pause.sleep(backoffDelay(this.consecutiveErrors, this.backoff, this.random));
        continue;
      }
      if (!this.running) break;
      try {
        this.apply(answer.index, answer.body, answer.receivedAt);
      } catch (err) {
        this.onError(err);
        await this.pause.sleep(backoffDelay(this.consecutiveErrors, this.backoff, this.random));
      }
    }
  }

  private query(): HealthQuery {
    return {
      service: this.service,
      // After a failure, read at once instead of blocking on the old index: the view is
      // refreshed (and recovery noticed) as soon as Consul answers again.
      index: this.consecutiveErrors > 0 ? "0" : String(this.index),
      waitMs: this.wait,
      datacenter: this.datacenter,
      tags: this.discovery.tags,
      filter: this.discovery.filter,
    };
  }

  private onError(err: unknown): void {
    this.consecutiveErrors++;
    this.onRequestError?.();
    this.lastError = errorWithCode(err);
    this.lastErrorAt = this.wall();
    const fields = { service: this.service, consecutiveErrors: this.consecutiveErrors, err: this.lastError };
    // The first failure of a streak is worth a warning; the rest would flood the log.
    if (this.consecutiveErrors === 1)
      this.log.warn(fields, "consul watch failed; keeping the last member view");
    else this.log.debug(fields, "consul watch still failing");
  }

  private apply(rawIndex: string | string[] | undefined, body: unknown, receivedAt: number): void {
    // A few entries changed in place (the usual wake-up): only those are read.
    const fast = parseAligned(body, this.aligned, this.view, this.warningIsHealthy, this.entryMemo);
    const parsed =
      fast === undefined
        ? parseHealthEntries(body, this.warningIsHealthy, this.view, this.entryMemo)
        : { members: fast.view, warnings: [] };
    const text = Array.isArray(rawIndex) ? rawIndex[0] : rawIndex;
    const n = text !== undefined && /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(n)) {
      // Each such answer is followed by a non-blocking query (paced by the token bucket): a
      // proxy stripping the header would log on every one, so warn once per streak.
      this.badIndexAnswers++;
      const fields = { service: this.service, index: text, answers: this.badIndexAnswers };
      if (this.badIndexAnswers === 1)
        this.log.warn(fields, "consul answer without a usable X-Consul-Index; next query will not block");
      else this.log.debug(fields, "consul answer still without a usable X-Consul-Index");
      this.index = 0;
    } else {
      if (this.badIndexAnswers > 0) {
        this.log.info(
          { service: this.service, after: this.badIndexAnswers },
          "consul X-Consul-Index usable again",
        );
        this.badIndexAnswers = 0;
      }
      // Never below 1 (Consul itself never sends 0): clamped before the comparison, so a 0
      // after a 1 is not mistaken for the index going backwards on every answer.
      const next = Math.max(1, n);
      if (next < this.index) {
        // A snapshot restore or a different server: the docs say start over from 0.
        this.indexResets++;
        this.onResync?.("index_reset");
        this.log.info(
          { service: this.service, from: this.index, to: next },
          "consul index went backwards; resetting",
        );
        this.index = 0;
      } else {
        this.index = next;
      }
    }
    // Log a problem once when it appears, not on every answer while it lasts.
    const warnKey = parsed.warnings.join("\n");
    if (warnKey !== this.lastWarnings) {
      logWarnings(this.log, { service: this.service }, "consul entries skipped or renamed", parsed.warnings);
      this.lastWarnings = warnKey;
    }
    if (this.consecutiveErrors > 0) {
      this.log.info({ service: this.service, after: this.consecutiveErrors }, "consul watch recovered");
    }
    this.consecutiveErrors = 0;
    this.lastSuccessAt = this.wall();
    const diff = fast?.diff ?? diffMembers(this.view, parsed.members);
    this.view = parsed.members;
    this.aligned =
      fast?.answer ??
      (parsed.warnings.length === 0 && Array.isArray(body)
        ? alignedAnswer(body, this.view, this.warningIsHealthy, this.entryMemo)
        : undefined);
    const firstSync = this.markSynced();
    if (isEmptyDiff(diff) && !firstSync) return;
    for (const m of diff.removed) this.emit("-member", m);
    for (const m of diff.added) this.emit("+member", m);
    for (const c of diff.changed) this.emit("~member", c.after, c.before);
    for (const h of diff.health) this.emit("health", h.member, h.member.healthy);
    this.emit("update", {
      service: this.service,
      index: this.index,
      members: [...this.view.values()],
      diff,
      ageMs: Math.max(0, performance.now() - receivedAt),
    });
    if (firstSync) this.resolveFirstSync();
  }
}
