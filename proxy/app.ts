// The composition root: one running shardgate instance. Loads the config, joins the fleet
// (a Raft cluster over the replicated cluster state; a one-member cluster when the config has
// no `cluster:` section), routes by the committed state (CommittedRouting, rebuilt per applied
// change and swapped by reference), starts the proxy listener and the admin API, and hands
// back an App that owns reload and shutdown. Nothing else in the process wires modules
// together; each concept lives in proxy/app/. This file makes every check (`validate` runs
// them alone); app/start-running.ts, loaded once they pass, starts the instance.

import { rmSync } from "node:fs";
import type { ConfigError } from "../config/file/config-error.js";
import { formatConfigErrors } from "../config/file/config-error.js";
import { loadConfigFileText } from "../config/file/load.js";
import { seedConfigLoads } from "../config/file/load-off-thread.js";
import type { ShardgateConfig } from "../config/file/schema.js";
import { loadConsul, usesConsul } from "../health/consul-health-query.js";
import { kubernetesClient, usesKubernetes } from "../health/kubernetes-client.js";
import { checkDataDir } from "./app/data-dir-check.js";
import { lockDataDir } from "./app/data-dir-lock.js";
import { engineEnvError } from "./app/engine-env.js";
import { envFlagsError } from "./app/env-flags.js";
import { configError, errorText } from "./app/errors.js";
import { descriptorShortage } from "./app/load-failure.js";
import type { App } from "./app/running-app.js";
import type { ListenerLog } from "./app/start-running.js";
import { readTlsFiles } from "./app/tls-files.js";
import { resolveClusterSettings } from "./cluster/cluster-settings.js";
import { CommittedRouting } from "./cluster/committed-routing.js";
import { OutcomeRecorders } from "./cluster/outcome-recorders.js";
import { loadEdgeStore } from "./edge/create-edge.js";
import { unreadableTlsFiles } from "./forward/upstream-tls.js";
import { CURRENT_KEY_RULES } from "./routing/key-extract.js";
import { PrimaryWorkers } from "./workers/primary-workers.js";
import { type WorkersSetting, workerCount } from "./workers/worker-count.js";

export type { ReloadOutcome } from "./app/reload.js";
export type { App } from "./app/running-app.js";

export { DEFAULT_DRAIN_TIMEOUT_MS } from "./app/stop-deadline.js";

export interface AppOptions {
  configPath: string;
  /** Environment for ${VAR} interpolation and SHARDGATE_* overrides (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where logs go: fd (default 1, stdout) or a file path. */
  logDestination?: number | string;
  /** How long shutdown waits for in-flight requests (default 10 s; no config key exists for it). */
  drainTimeoutMs?: number;
  /** Overrides cluster.id (flag --node-id). */
  nodeId?: string;
  /** Overrides cluster.dataDir (flag --data-dir). */
  dataDir?: string;
  /** Flag --bootstrap: an empty data directory may found a new cluster. */
  bootstrap?: boolean;
  /** Overrides `workers` (flag --workers): data-plane processes sharing the listener. */
  workers?: WorkersSetting;
}

export type StartResult =
  | { ok: true; app: App }
  | { ok: false; kind: "config"; errors: ConfigError[]; text: string }
  | { ok: false; kind: "listen"; message: string };

function configFailure(path: string, message: string, configPath: string): StartResult {
  const error = configError(path, message);
  return { ok: false, kind: "config", errors: [error], text: `${configPath}: ${path}: ${message}` };
}

/**
 * Loads and validates the config, joins the cluster, then starts everything. Config errors
 * and a listen failure (port in use, permission) come back as values with a clear message;
 * nothing is left running.
 */
export async function startApp(opts: AppOptions): Promise<StartResult> {
  const r = await startOrCheck(opts, false);
  if (r.ok && r.app === null) throw new Error("startApp: only the checks ran"); // unreachable
  return r;
}

/** What `start` would refuse, without starting anything: `shardgate validate` runs this. */
export type CheckResult = { ok: true; config: ShardgateConfig } | Exclude<StartResult, { ok: true }>;

/**
 * Every check `startApp` makes before it starts anything (the file, listener and upstream TLS
 * files, pools that can be built, cluster settings with the flags and environment), on the
 * same code path, so a file `validate` accepts is one `start` accepts: only a port in use or
 * a data directory that cannot be written are left for `start` to find.
 */
export async function checkApp(opts: AppOptions): Promise<CheckResult> {
  const r = await startOrCheck(opts, true);
  if (!r.ok) return r;
  if (r.app !== null) throw new Error("checkApp: an app was started"); // unreachable
  return { ok: true, config: r.config };
}

async function startOrCheck(
  opts: AppOptions,
  checkOnly: boolean,
): Promise<StartResult | { ok: true; app: null; config: ShardgateConfig }> {
  const env = opts.env ?? process.env;
  const { result: loaded, text: loadedText } = await loadConfigFileText(opts.configPath, env);
  if (!loaded.ok) {
    const text = formatConfigErrors(loaded.errors, opts.configPath);
    return { ok: false, kind: "config", errors: loaded.errors, text };
  }
  const config = loaded.config;
  // ioredis, only for a config with `redis:`; before anything is opened, so a failed load leaves
  // nothing running (checkApp loads it too: `validate` refuses what `start` would die of).
  // A client that cannot be loaded (a broken install, too few descriptors) is said in one line.
  let storeClass: Awaited<ReturnType<typeof loadEdgeStore>>;
  try {
    storeClass = await loadEdgeStore(config);
  } catch (err) {
    return await unloadable(err);
  }
  // Likewise the consul client for Consul discovery (its watchers would import it on their first
  // query; a pool a reload adds still does).
  if (usesConsul(config.pools)) {
    try {
      await loadConsul();
    } catch (err) {
      return await unloadable(err);
    }
  }
  // And the Kubernetes client, before Raft starts: importing it on the leader's first watch
  // blocked the event loop for ~1 s while Raft waited on fsyncs (health/kubernetes-client.ts).
  let kubernetesLoadMs: number | undefined;
  if (usesKubernetes(config.pools)) {
    const t0 = performance.now();
    try {
      await kubernetesClient();
    } catch (err) {
      return await unloadable(err);
    }
    kubernetesLoadMs = Math.round(performance.now() - t0);
  }
  // The first reload's worker starts from this load (an incremental load of a few changed members).
  if (!checkOnly && loadedText !== null) seedConfigLoads(opts.configPath, env, loadedText, config);
  // Reloads log later, once the process logger (made by startRunning) exists.
  const listenerLog: ListenerLog = {};
  const tls = readTlsFiles(config, {
    info: (o, m) => listenerLog.logger?.child({ component: "listener" }).info(o, m),
    error: (o, m) => listenerLog.logger?.child({ component: "listener" }).error(o, m),
    warn: (o, m) => listenerLog.logger?.child({ component: "listener" }).warn(o, m),
    debug: (o, m) => listenerLog.logger?.child({ component: "listener" }).debug(o, m),
  });
  if (!tls.ok)
    return {
      ok: false,
      kind: "config",
      errors: [tls.error],
      text: `${opts.configPath}: ${tls.error.message}`,
    };
  const unreadable = unreadableTlsFiles(config.pools);
  if (unreadable.length > 0) {
    const message = unreadable.join("; ");
    const error = { path: "pools", expected: "readable PEM files", found: message, message };
    return { ok: false, kind: "config", errors: [error], text: `${opts.configPath}: ${message}` };
  }
  // workers > 1: this process keeps Raft, the committed state and the admin API; the workers
  // (proxy/workers/) serve the listener and route on the state this process hands them.
  const workerTotal = workerCount(opts.workers ?? config.workers);
  const workers = workerTotal > 1 ? new PrimaryWorkers(workerTotal) : undefined;
  const outcomes = workers?.outcomes ?? new OutcomeRecorders();
  // A clustered instance reads keys by the previous build's rules until the committed cluster
  // level has LEVEL_KEY_SPELLING (join-cluster.ts switches them); a standalone one by the current.
  const routing = new CommittedRouting(
    (snap, previous) => outcomes.gateFor(snap, previous),
    config.cluster === undefined ? CURRENT_KEY_RULES : "v3",
  );
  try {
    routing.applyProvisional(config);
  } catch (err) {
    return configFailure("pools", `pools that can be built: ${errorText(err)}`, opts.configPath);
  }
  const engineError = engineEnvError(env);
  if (engineError !== null) return configFailure("SHARDGATE_ENGINE", engineError, opts.configPath);
  const flagError = envFlagsError(env, config.cluster !== undefined);
  if (flagError !== null) return configFailure(flagError.variable, flagError.message, opts.configPath);
  // Last of the checks: without a cluster section this creates the temporary data directory,
  // which only the node's stop removes.
  const resolved = resolveClusterSettings(
    config,
    { nodeId: opts.nodeId, dataDir: opts.dataDir, bootstrap: opts.bootstrap },
    env,
  );
  if (!resolved.ok) return configFailure("cluster", resolved.message, opts.configPath);
  const settings = resolved.settings;
  if (!settings.ephemeral) {
    // Before anything opens it: a coded error naming the path, in bounded time (data-dir-check.ts).
    const dir = await checkDataDir(settings.dataDir, { create: !checkOnly });
    if (!dir.ok)
      return {
        ok: false,
        kind: "listen",
        message: `${dir.code}: data directory ${settings.dataDir}: ${dir.message}`,
      };
  }
  // One process per data directory (data-dir-lock.ts); released when the app stops or the process exits.
  const lock = checkOnly || settings.ephemeral ? null : lockDataDir(settings.dataDir);
  if (lock !== null && !lock.ok)
    return {
      ok: false,
      kind: "listen",
      message: `${lock.code}: data directory ${settings.dataDir}: ${lock.message}`,
    };
  const undoChecks = () => {
    tls.value?.close();
    if (settings.ephemeral) rmSync(settings.dataDir, { recursive: true, force: true });
  };
  if (checkOnly) {
    undoChecks();
    return { ok: true, app: null, config };
  }
  // The running instance's modules (the data plane, Raft, the admin API: about 60% of the CPU a
  // start spends loading) only once every check passed: `validate`, and a start a check refuses,
  // do not load them. A failed load leaves nothing this function opened.
  let running: typeof import("./app/start-running.js");
  try {
    running = await import("./app/start-running.js");
  } catch (err) {
    undoChecks();
    lock?.release();
    const shortage = await descriptorShortage(err);
    if (shortage === null) throw err;
    return { ok: false, kind: "listen", message: shortage };
  }
  return running.startRunning({
    opts,
    env,
    config,
    tls: tls.value,
    listenerLog,
    workers,
    workerTotal,
    outcomes,
    routing,
    settings,
    lock,
    storeClass,
    kubernetesLoadMs,
  });
}

/** A client module that could not be loaded, in one line (a descriptor shortage said as such). */
async function unloadable(err: unknown): Promise<{ ok: false; kind: "listen"; message: string }> {
  return { ok: false, kind: "listen", message: (await descriptorShortage(err)) ?? (err as Error).message };
}
