// The `@kubernetes/client-node` module, imported once per process. Its evaluation is
// synchronous and heavy (~1 s, ~60 MB on a loaded machine): imported on the first watch, which
// runs on the Raft leader, it blocked the event loop while Raft waited on an fsync and once
// made the apply look stalled for ~800 ms. The start path calls preload when a pool is
// discovered through Kubernetes, before the cluster node starts; an instance without such a
// pool never pays it. A reload that adds the first such pool preloads it too, before its
// routing is proposed (proxy/app/reload.ts), so the apply does not wait on the import. The
// reload may reach a follower, though, while the leader runs the watch: every instance also
// preloads when it applies a committed state that names such a pool, and a new leader before
// its controllers start (proxy/cluster/cluster-node.ts), so no watch is the first importer.

import { codeOf, errorText } from "../config/coded-error.js";
import type { LogSink } from "../config/log-sink.js";

type ClientModule = typeof import("@kubernetes/client-node");

let loading: Promise<ClientModule> | undefined;
let loaded = false;
let announced = false;
let failureLogged = false;

/** The client module (the same promise for every caller). */
export function kubernetesClient(): Promise<ClientModule> {
  loading ??= import("@kubernetes/client-node").then(
    (m) => {
      loaded = true;
      return m;
    },
    (err: unknown) => {
      throw loadFailure(err);
    },
  );
  return loading;
}

/**
 * A failed load in one line that names the package, with Node's code kept (start tells a
 * descriptor shortage by it): start printed the loader's stack trace, as if shardgate had crashed.
 */
function loadFailure(err: unknown): Error {
  const said = (err instanceof Error ? err.message : String(err)).split("\n", 1)[0];
  const failure = new Error(
    `the Kubernetes client (package @kubernetes/client-node) could not be loaded: ${said}`,
    { cause: err },
  );
  return Object.assign(failure, { code: codeOf(err) });
}

/** Whether the module has been imported already (a preload would be free). */
export function kubernetesClientLoaded(): boolean {
  return loaded;
}

/** Whether any pool of `pools` discovers its members through Kubernetes. */
export function usesKubernetes(pools: Record<string, { discovery?: { kubernetes?: unknown } }>): boolean {
  for (const name in pools) if (pools[name].discovery?.kubernetes !== undefined) return true;
  return false;
}

/** Whether any pool of a committed state discovers its members through Kubernetes. */
export function stateUsesKubernetes(
  pools: Record<string, { settings: { discovery?: { kubernetes?: unknown } } }>,
): boolean {
  for (const name in pools) if (pools[name].settings.discovery?.kubernetes !== undefined) return true;
  return false;
}

/**
 * Imports the client unless it is loaded already; the first load of the process is logged
 * ("kubernetes client loaded", with `fields` and how long it took), once. A failure is logged
 * once and not thrown: each pool's watch reports it again when it connects.
 */
export async function preloadKubernetesClient(log: LogSink, fields: object): Promise<void> {
  if (loaded) return;
  const t0 = performance.now();
  try {
    await kubernetesClient();
  } catch (err) {
    if (failureLogged) return;
    failureLogged = true;
    log.error({ ...fields, err: errorText(err) }, "kubernetes client could not be loaded");
    return;
  }
  if (announced) return;
  announced = true;
  log.info({ ...fields, ms: Math.round(performance.now() - t0) }, "kubernetes client loaded");
}
