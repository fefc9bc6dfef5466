// The KubernetesWatcher options for one pool: its committed `discovery.kubernetes` section as
// the config schema produced it, plus a jitter seed from the namespace and Service.

import type { PoolKubernetesDiscovery } from "../../config/file/schema.js";
import type { KubernetesWatcherOptions } from "../kubernetes-watcher.js";
import { seedOf } from "./seed.js";

export function kubernetesWatcherOptions(discovery: PoolKubernetesDiscovery): KubernetesWatcherOptions {
  return { ...discovery, seed: seedOf(`${discovery.namespace}/${discovery.service}`) };
}
