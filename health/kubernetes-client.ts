// The `@kubernetes/client-node` module, imported once per process. Its evaluation is
// synchronous and heavy (~1 s, ~60 MB on a loaded machine): imported on the first watch, which
// runs on the Raft leader, it blocked the event loop while Raft waited on an fsync and once
// made the apply look stalled for ~800 ms. The start path calls preload when a pool is
// discovered through Kubernetes, before the cluster node starts; an instance without such a
// pool never pays it. A reload that adds the first such pool preloads it too, before its
// routing is proposed (proxy/app/reload.ts), so the apply does not wait on the import.

type ClientModule = typeof import("@kubernetes/client-node");

let loading: Promise<ClientModule> | undefined;
let loaded = false;

/** The client module (the same promise for every caller). */
export function kubernetesClient(): Promise<ClientModule> {
  loading ??= import("@kubernetes/client-node").then((m) => {
    loaded = true;
    return m;
  });
  return loading;
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
