// The watcher options for one pool: its committed discovery section and this instance's
// Consul agent section go to the watchers as the config schema produced them; only the
// jitter seed is added, from the watched target's name.

import type { ConsulAgentConfig, PoolConsulDiscovery } from "../../config/file/schema.js";
import type { ConsulWatcherOptions } from "../consul-watcher.js";
import { seedOf } from "./seed.js";

export function consulWatcherOptions(
  agent: ConsulAgentConfig,
  discovery: PoolConsulDiscovery,
): ConsulWatcherOptions {
  return { agent, discovery, seed: seedOf(discovery.service) };
}
