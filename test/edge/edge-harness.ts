// The in-process proxy harness with edge features wired as the app wires them (metrics on a
// registry of their own, a cookie key from a given secret, optionally a Redis store).

import { Registry } from "prom-client";
import type { ShardgateConfigInput } from "../../config/schema.js";
import { CookieCodec } from "../../proxy/affinity/cookie-codec.js";
import { EdgeEngine } from "../../proxy/edge/edge-engine.js";
import { EdgeMetrics } from "../../proxy/edge/edge-metrics.js";
import { type Harness, startHarness } from "../proxy/harness.js";

export interface EdgeHarness extends Harness {
  engine: EdgeEngine;
  registry: Registry;
  codec: CookieCodec;
}

export async function startEdgeHarness(opts: {
  members?: number;
  secret?: string;
  config: (members: Array<{ id: string; address: string }>) => ShardgateConfigInput;
}): Promise<EdgeHarness> {
  const registry = new Registry();
  const codec = new CookieCodec(opts.secret ?? "a-test-secret-of-some-length");
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const engine = new EdgeEngine({ metrics: new EdgeMetrics(registry), codec, logger: silent });
  const h = await startHarness({ members: opts.members, config: opts.config, edge: engine });
  return Object.assign(h, { engine, registry, codec });
}

/** "name=value" of a Set-Cookie header for `name`, or undefined. */
export function setCookieValue(headers: Record<string, unknown>, name: string): string | undefined {
  const raw = headers["set-cookie"];
  const list = Array.isArray(raw) ? raw : typeof raw === "string" ? [raw] : [];
  for (const c of list as string[]) {
    if (c.startsWith(`${name}=`)) return c.slice(name.length + 1, c.indexOf(";"));
  }
  return undefined;
}
