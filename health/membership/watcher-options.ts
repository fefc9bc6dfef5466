// Maps an instance's local Consul agent settings (`discovery.consul` in its file) and a
// pool's committed discovery section to ConsulWatcher options.
//
// The watcher never asks Consul for ?passing: the membership controller needs to tell a
// member that went critical (still registered: a health flip, which the panic guard can
// hold back) from one that was deregistered (gone). A pool's `passingOnly` is applied by
// counting every non-passing member as unhealthy instead.

import type { PoolConsulDiscovery } from "../../config/file/schema.js";
import type { ConsulWatcherOptions } from "../consul-watcher.js";
import { seedOf } from "./seed.js";

/** The instance-local agent settings the watcher needs (a subset of `discovery.consul`). */
export interface ConsulAgentSettings {
  /** "http://127.0.0.1:8500" (default). */
  readonly address?: string;
  readonly token?: string;
  readonly datacenter?: string;
  /** Blocking wait in ms. */
  readonly wait?: number;
  /** Requests per second per watched service; absent = the watcher's default limit. */
  readonly rateLimit?: number;
}

/** Throws a TypeError naming the field when the agent address is not an http(s) URL. */
export function consulWatcherOptions(
  agent: ConsulAgentSettings,
  discovery: PoolConsulDiscovery,
): ConsulWatcherOptions {
  const raw = agent.address ?? "http://127.0.0.1:8500";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError(`discovery.consul.address: expected an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`discovery.consul.address: expected http or https, got ${url.protocol}`);
  }
  const secure = url.protocol === "https:";
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const o: ConsulWatcherOptions = {
    service: discovery.service,
    host,
    port: url.port === "" ? (secure ? 443 : 8500) : Number(url.port),
    secure,
    passingOnly: false,
    warningIsHealthy: discovery.warningIsHealthy && !discovery.passingOnly,
    seed: seedOf(discovery.service),
  };
  if (agent.token) o.token = agent.token;
  const dc = discovery.datacenter ?? agent.datacenter;
  if (dc) o.datacenter = dc;
  if (discovery.tags.length > 0) o.tags = discovery.tags;
  if (discovery.filter) o.filter = discovery.filter;
  if (agent.wait !== undefined) o.waitMs = agent.wait;
  if (agent.rateLimit !== undefined) o.ratePerSec = agent.rateLimit;
  return o;
}
