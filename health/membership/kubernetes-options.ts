// Maps a pool's committed `discovery.kubernetes` section to KubernetesWatcher options. The
// jitter seed comes from the namespace and Service, so two pools watched by one leader do not
// retry in lockstep, and a run is replayable.

import type { PoolKubernetesDiscovery } from "../../config/schema.js";
import type { KubernetesWatcherOptions } from "../kubernetes-watcher.js";

function seedOf(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function kubernetesWatcherOptions(discovery: PoolKubernetesDiscovery): KubernetesWatcherOptions {
  const o: KubernetesWatcherOptions = {
    service: discovery.service,
    namespace: discovery.namespace,
    port: discovery.port,
    seed: seedOf(`${discovery.namespace}/${discovery.service}`),
  };
  if (discovery.kubeconfig !== undefined) o.kubeconfig = discovery.kubeconfig;
  return o;
}
