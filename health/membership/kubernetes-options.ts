// Maps a pool's committed `discovery.kubernetes` section to KubernetesWatcher options; the
// jitter seed comes from the namespace and Service.

import type { PoolKubernetesDiscovery } from "../../config/file/schema.js";
import type { KubernetesWatcherOptions } from "../kubernetes-watcher.js";
import { seedOf } from "./seed.js";

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
