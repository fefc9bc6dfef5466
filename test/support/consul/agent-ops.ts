// Test-side helpers that speak to a Consul HTTP API (real agent or double): a raw GET that
// returns status, headers and body, and agent operations through the `consul` npm client, so
// the double is exercised by the same client shardgate uses (the watcher's health query goes
// through it too, with papi's `pipe`).

import http from "node:http";
import Consul from "consul";
import type { ConsulTarget } from "./target.js";

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json(): unknown;
}

/** GET `path` (with query) against the target; rejects only on transport errors. */
export function rawGet(target: ConsulTarget, path: string, timeoutMs = 15_000): Promise<RawResponse> {
  return rawRequest(target, "GET", path, undefined, timeoutMs);
}

/** PUT a JSON body (Consul's agent endpoints take PUT). */
export function rawPut(
  target: ConsulTarget,
  path: string,
  body?: unknown,
  timeoutMs = 15_000,
): Promise<RawResponse> {
  return rawRequest(target, "PUT", path, body === undefined ? undefined : JSON.stringify(body), timeoutMs);
}

/** Registers a service with the full agent payload (the npm client cannot send Weights). */
export async function registerService(target: ConsulTarget, def: Record<string, unknown>): Promise<void> {
  const r = await rawPut(target, "/v1/agent/service/register", def);
  if (r.status !== 200)
    throw new Error(`register ${JSON.stringify(def.ID ?? def.Name)} failed: ${r.status} ${r.text}`);
}

function rawRequest(
  target: ConsulTarget,
  method: string,
  path: string,
  body: string | undefined,
  timeoutMs: number,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (target.token !== undefined) headers["X-Consul-Token"] = target.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const req = http.request(
      { host: target.host, port: target.port, method, path, headers, agent: false },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          text += d;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`rawGet ${path} timed out after ${timeoutMs}ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** A consul client for agent operations against the target. */
export function agentClient(target: ConsulTarget): Consul {
  return new Consul({
    host: target.host,
    port: target.port,
    defaults: target.token === undefined ? {} : { token: target.token },
  });
}

/** A short random suffix from a seeded PRNG so runs against a shared real agent do not collide. */
export function uniqueName(prefix: string, random: () => number): string {
  return `${prefix}-${Math.floor(random() * 0xffffffff).toString(36)}`;
}
