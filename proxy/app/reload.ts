// Config reload (SIGHUP and POST /admin/reload). Routing is the committed config whatever the
// local file says: a reload validates the file and proposes its pools and routes (SetRouting),
// answering once committed. The local sections (log level, access log, admin token) apply here
// at once; listen, headers, cluster, discovery and redis are read once at start, so a change in them
// is reported as needing a restart. Holds the local file's config: what drift compares.

import type { Logger } from "pino";
import type { Counter } from "prom-client";
import { type ConfigError, formatConfigErrors } from "../../config/file/config-error.js";
import type { ConfigResult } from "../../config/file/load.js";
import { loadConfigFileOffThread } from "../../config/file/load-off-thread.js";
import type { RoutingConfig, ShardgateConfig } from "../../config/file/schema.js";
import {
  keepReads,
  type LastReads,
  markOfSync,
  rememberReads,
  type SettleOptions,
  settleOptions,
} from "../../config/file/settled-file.js";
import { type ConfigDrift, configDrift } from "../../config/state/drift.js";
import { routingPatch } from "../../config/state/routing-patch.js";
import { preloadKubernetesClient, usesKubernetes } from "../../health/kubernetes-client.js";
import type { AdminResult, ReloadView } from "../admin/types.js";
import { type ClusterNode, CommandRejected } from "../cluster/cluster-node.js";
import type { CommittedRouting } from "../cluster/committed-routing.js";
import { unreadableTlsFiles } from "../forward/upstream-tls.js";
import { createAccessLog, type LineSink } from "../logging/access-log.js";
import type { MetricsObserver } from "../metrics/observer.js";
import type { CertificateStore } from "../server/certificate-store.js";
import { errorText } from "./errors.js";
import { releaseFifoReader } from "./reload-file-kind.js";
import {
  loadSettled,
  upstreamTlsPaths,
  waitListenerFilesSettled,
  waitTlsFilesSettled,
} from "./reload-settled.js";

export interface ReloadOutcome {
  ok: boolean;
  ringVersion: number;
  errors?: ConfigError[];
  restartRequired?: string[];
  /** Set when the file was valid but its routing could not be committed. */
  notCommitted?: string;
}

/** Config sections that are read once at start; a change in them is reported, not applied. */
const RESTART_ONLY: ReadonlyArray<keyof ShardgateConfig> = [
  "listen",
  "headers",
  "cluster",
  "discovery",
  "redis",
  "workers",
  "limits",
  // The exporter and sampler start once (tracing.ts); with workers, each runs the start config.
  "tracing",
];

/** Admin settings read when the admin listener starts (the token and fleet apply on reload). */
const ADMIN_RESTART_ONLY = ["maxConnections", "maxBodySize", "timeouts"] as const;

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface ReloaderDeps {
  configPath: string;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Where access lines go (ProcessLogger.lines). */
  logSink: LineSink;
  reloads: Counter<"result">;
  routing: CommittedRouting;
  observer: MetricsObserver;
  /** The cluster node; called only when a reload runs, so it may be created after the reloader. */
  cluster(): ClusterNode;
  /** After a valid file was loaded (its local sections applied): data-plane workers follow. */
  localApplied?: (config: ShardgateConfig) => void;
  /** The listener's certificates (listen.tls), which a reload re-reads. */
  certificates?: CertificateStore;
  /** After `routing` routes provisionally on a reloaded file (nothing committed yet): the data plane and workers follow. */
  provisionalApplied?: (config: ShardgateConfig) => void;
}

export class ConfigReloader {
  private reloading: Promise<ReloadOutcome> = Promise.resolve({ ok: true, ringVersion: 0 });

  /** How long the files of a reload must hold still before they are read (settled-file.ts). */
  private readonly settle: SettleOptions;

  /** The marks of the files as last read: one renamed into place since is read at once. */
  private readonly lastReads: LastReads = new Map();

  constructor(
    private current: ShardgateConfig,
    private readonly d: ReloaderDeps,
  ) {
    this.settle = settleOptions(d.env);
    // What start read (a stat now, cheap; a later rename gives the path another inode).
    rememberReads(this.lastReads, this.filesRead(current).map(markOfSync));
  }

  /** The local file's config as last loaded (start or a valid reload). */
  get config(): ShardgateConfig {
    return this.current;
  }

  /** The local file's routing (what a reload proposes and what drift compares). */
  fileRouting(): Pick<ShardgateConfig, "pools" | "routes"> {
    return { pools: this.current.pools, routes: this.current.routes };
  }

  drift(): ConfigDrift {
    return configDrift(this.fileRouting(), this.d.cluster().state);
  }

  /** Config reads under way (a FIFO's may be blocked waiting for its writer). */
  private readsInFlight = 0;

  private releasing: NodeJS.Timeout | undefined;

  /**
   * At shutdown: a read blocked on a FIFO config would hold the exit; release it now and,
   * while a read is still under way (the load worker may open the file only later), every
   * 25 ms (reload-file-kind.ts). The timer holds nothing open.
   */
  releaseBlockedRead(): void {
    if (this.readsInFlight === 0 || this.releasing !== undefined) return;
    releaseFifoReader(this.d.configPath);
    this.releasing = setInterval(() => {
      if (this.readsInFlight === 0) {
        clearInterval(this.releasing);
        return;
      }
      releaseFifoReader(this.d.configPath);
    }, 25);
    this.releasing.unref();
  }

  /** Serialized: SIGHUP and POST /admin/reload never overlap. */
  reload(trigger: string): Promise<ReloadOutcome> {
    const next = this.reloading.then(() => this.reloadNow(trigger));
    this.reloading = next.catch(() => ({ ok: false, ringVersion: this.d.routing.ringVersion }));
    return next;
  }

  private async reloadNow(trigger: string): Promise<ReloadOutcome> {
    const { logger, routing, reloads, configPath } = this.d;
    logger.info({ trigger, config: configPath }, "reloading config");
    // Off the event loop: parsing and validating must not stall proxied requests.
    this.readsInFlight++;
    let loaded: ConfigResult;
    try {
      // A file written in place may be read half written; read it once it holds still.
      loaded = await loadSettled(configPath, this.settle, this.lastReads, logger, trigger, () =>
        loadConfigFileOffThread(configPath, this.d.env),
      );
    } finally {
      this.readsInFlight--;
    }
    // start refuses upstream TLS files it cannot read (app.ts); a reload must too, or the pool
    // switches to TLS without its CA or client certificate and every request fails. Files being
    // rotated are waited for, as the config file is.
    if (loaded.ok && upstreamTlsPaths(loaded.config.pools).length > 0)
      loaded = await waitTlsFilesSettled(loaded.config, this.settle, this.lastReads, logger, trigger);
    // The marks of the files this config reads, and of no others (a path named once stays no longer).
    if (loaded.ok) keepReads(this.lastReads, this.filesRead(loaded.config));
    let result = loaded.ok ? withReadableTlsFiles(loaded.config) : loaded;
    if (result.ok) {
      const errors = await this.rereadCertificates(trigger);
      if (errors.length > 0) result = { ok: false, errors };
    }
    if (!result.ok) {
      reloads.inc({ result: "failure" });
      logger.error(
        { trigger, errors: result.errors, ringVersion: routing.ringVersion },
        `config reload rejected, keeping the running config:\n${formatConfigErrors(result.errors, configPath)}`,
      );
      return { ok: false, ringVersion: routing.ringVersion, errors: result.errors };
    }
    const next = result.config;
    // No local dry-run build of every pool: the schema already refuses a table that cannot be
    // built (table-limits.ts), and building a 5,000-member ring here doubled a reload's cost.
    // A pool that still fails to build when committed keeps its old table (committed-routing.ts).
    const restartRequired = RESTART_ONLY.filter((k) => !same(this.current[k], next[k])).map(String);
    for (const k of ADMIN_RESTART_ONLY)
      if (!same(this.current.admin[k], next.admin[k])) restartRequired.push(`admin.${k}`);
    if (usesKubernetes(next.pools))
      // The first Kubernetes pool: import the client now, before the routing is proposed, as
      // start does (health/kubernetes-client.ts); imported by the leader's first watch, its
      // evaluation would stall the apply and Raft with it. A failure is logged; the reload goes on.
      await preloadKubernetesClient(logger, { trigger });
    // Local sections apply now, whatever happens to the proposal.
    this.current = next;
    logger.level = next.log.level;
    this.d.observer.setAccessLog(createAccessLog(this.d.logSink, next.log.accessLog));
    this.d.localApplied?.(next);
    if (!routing.applied) this.routeProvisionally(next, trigger);
    try {
      await this.proposeRouting({ pools: next.pools, routes: next.routes });
    } catch (err) {
      reloads.inc({ result: "failure" });
      const message = errorText(err);
      logger.error(
        { trigger, err: message },
        "config reload: the file is valid but its routing was not committed",
      );
      return { ok: false, ringVersion: routing.ringVersion, restartRequired, notCommitted: message };
    }
    reloads.inc({ result: "success" });
    logger.info(
      { trigger, ringVersion: routing.ringVersion, restartRequired },
      restartRequired.length === 0
        ? "config reloaded"
        : `config reloaded; changes to ${restartRequired.join(", ")} take effect only after a restart`,
    );
    return { ok: true, ringVersion: routing.ringVersion, restartRequired };
  }

  /** The files a reload of `config` reads: the config file, the upstream and listener TLS files. */
  private filesRead(config: ShardgateConfig): string[] {
    return [this.d.configPath, ...upstreamTlsPaths(config.pools), ...(this.d.certificates?.paths() ?? [])];
  }

  /**
   * A reload re-reads the listener's certificates as well (their folders are watched too; this
   * is the operator's way to say "now"), once they hold still: all of them, or none when one
   * does not load, and then the reload is refused as start would refuse it, the running pairs
   * (and config) kept. Their paths are the running ones: listen is read once at start.
   */
  private async rereadCertificates(trigger: string): Promise<ConfigError[]> {
    const store = this.d.certificates;
    if (store === undefined) return [];
    const { logger } = this.d;
    const unsettled = await waitListenerFilesSettled(
      store.paths(),
      this.settle,
      this.lastReads,
      logger,
      trigger,
    );
    if (unsettled.length > 0) return unsettled;
    return store.reread().map((message) => ({
      path: "listen.tls",
      expected: "readable PEM files, each key matching its cert",
      found: message,
      message: `cannot load TLS certificate: ${message}`,
    }));
  }

  /**
   * Until routing is committed the instance routes on its file: on the reloaded one from now on,
   * still provisional at ring version 0, as a start on it would. Without quorum the proposal
   * below fails, and the file read at start would otherwise go on routing while the reloaded
   * one is what this instance proposes once it leads (fileRouting).
   */
  private routeProvisionally(next: ShardgateConfig, trigger: string): void {
    try {
      this.d.routing.applyProvisional(next);
    } catch (err) {
      this.d.logger.error(
        { trigger, err: errorText(err) },
        "config reload: the file's pools cannot be built; routing provisionally on the previous file",
      );
      return;
    }
    this.d.logger.info(
      { trigger },
      "config reload: no committed routing yet; routing provisionally on the reloaded file",
    );
    this.d.provisionalApplied?.(next);
  }

  /**
   * Commits the file's routing: the few members that changed (PatchRouting) when the
   * committed routing differs from the file in members only, else the whole routing
   * (SetRouting). A patch refused because the committed routing moved under it (another
   * reload, or this node lagging) is followed by the whole routing.
   */
  private async proposeRouting(routing: RoutingConfig): Promise<void> {
    const cluster = this.d.cluster();
    const base = cluster.state.routing;
    // A patch only once every instance understands it (the committed cluster level).
    const patch = base === null || !cluster.levelHas("PatchRouting") ? null : routingPatch(base, routing);
    if (patch !== null) {
      try {
        await cluster.proposeWithRetry(patch);
        return;
      } catch (err) {
        if (!(err instanceof CommandRejected && err.code === "routing_changed")) throw err;
        this.d.logger.info(
          { reason: err.message },
          "config reload: patch refused, proposing the whole routing",
        );
      }
    }
    await cluster.proposeWithRetry({ v: 1, type: "SetRouting", routing });
  }

  /** A reload for POST /admin/reload: 400 for an invalid file, 503 when it was not committed. */
  async reloadForAdmin(): Promise<AdminResult<ReloadView>> {
    const r = await this.reload("admin");
    if (r.ok)
      return { ok: true, value: { ringVersion: r.ringVersion, restartRequired: r.restartRequired ?? [] } };
    if (r.notCommitted !== undefined)
      return {
        ok: false,
        err: {
          status: 503,
          error: "not_committed",
          message: "the file is valid but the cluster did not commit its routing (no quorum?); retry",
          detail: { reason: r.notCommitted },
        },
      };
    return {
      ok: false,
      err: {
        status: 400,
        error: "invalid_config",
        message: "the config file is invalid; the running config was kept",
        detail: { errors: r.errors ?? [] },
      },
    };
  }
}

function withReadableTlsFiles(config: ShardgateConfig): ConfigResult {
  const unreadable = unreadableTlsFiles(config.pools);
  if (unreadable.length === 0) return { ok: true, config };
  // Each line reads "pools.P.tls: cannot read FILE: reason".
  const errors = unreadable.map((line): ConfigError => {
    const at = line.indexOf(": ");
    const message = line.slice(at + 2);
    return { path: line.slice(0, at), expected: "readable PEM files", found: message, message };
  });
  return { ok: false, errors };
}
