// Routing fixtures and command builders for the cluster-state tests.

import { parseConfig } from "../../config/file/load.js";
import type { RoutingConfig } from "../../config/file/schema.js";
import { type CommandInput, encodeCommand } from "../../config/state/commands.js";

export const ROUTING_YAML = `pools:
  users:
    members:
      - { id: u1, address: "127.0.0.1:9101" }
      - { id: u2, address: "127.0.0.1:9102", weight: 2 }
      - { id: u3, address: "127.0.0.1:9103" }
  search:
    algorithm: maglev
    discovery: { consul: { service: search } }
    members:
      - { id: s-static, address: "127.0.0.1:9201" }
routes:
  - match: { host: "*", pathPrefix: /search }
    pool: search
    key: [query:q]
  - pool: users
    key: [header:x-user-id, ip]
`;

export function routingFrom(yaml: string): RoutingConfig {
  const r = parseConfig(yaml, {}, "routing.yaml");
  if (!r.ok) throw new Error(`fixture does not load: ${JSON.stringify(r.errors)}`);
  return { pools: r.config.pools, routes: r.config.routes };
}

export const enc = (c: CommandInput): Uint8Array => encodeCommand(c);
export const setRouting = (routing: unknown): Uint8Array => enc({ v: 1, type: "SetRouting", routing });

/** An encoded SetBreaker opening `member` of pool "users" (the tests' most common breaker command). */
export const openBreaker = (member: string, since: number, until: number, trips: number): Uint8Array =>
  enc({ v: 1, type: "SetBreaker", pool: "users", member, state: "open", since, until, trips });

/** An encoded SetMembers from Consul for pool "search" (the fixtures' discovery pool). */
export const consulSearchMembers = (
  members: Extract<CommandInput, { type: "SetMembers" }>["members"],
): Uint8Array => enc({ v: 1, type: "SetMembers", pool: "search", source: "consul", members });

/** An encoded SetMembers from Consul for `pool`. */
export const consulMembers = (
  pool: string,
  members: Extract<CommandInput, { type: "SetMembers" }>["members"],
): Uint8Array => enc({ v: 1, type: "SetMembers", pool, source: "consul", members });

/** `n` members with ids `${idPrefix}m00000`... and loopback addresses on ports drawn from `random`. */
export const randomMembers = (n: number, random: () => number, idPrefix = "") =>
  Array.from({ length: n }, (_, i) => ({
    id: `${idPrefix}m${String(i).padStart(5, "0")}`,
    address: `127.0.0.1:${1024 + Math.floor(random() * 60000)}`,
  }));

/** A routing of the given pools, each discovered from Consul with one static member; routes to the first. */
export const consulPoolsRouting = (pools: string[]): string => `pools:
${pools.map((p) => `  ${p}:\n    discovery: { consul: { service: ${p} } }\n    members:\n      - { id: ${p}-static, address: "127.0.0.1:9201" }`).join("\n")}
routes:
  - pool: ${pools[0]}
    key: [ip]
`;
