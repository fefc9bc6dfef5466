// Builds a pool's immutable routing snapshot from plain data: the hash table (ring or
// Maglev, optionally wrapped with bounded load), the members in table order with their
// flags, and a precomputed eligibility mask. Built off the request path; swapped by reference.

import { withBoundedLoad } from "../../ring/bounded-load.js";
import { buildMaglev } from "../../ring/maglev.js";
import { buildRingHash } from "../../ring/ring-hash.js";
import type { HashTable } from "../../ring/types.js";
import type { MemberInput, PoolSnapshot, PoolSnapshotInput, SnapshotMember } from "./types.js";

function hostPortOf(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Builds a frozen PoolSnapshot; throws (RingConfigError or Error) on invalid input. */
export function buildPoolSnapshot(input: PoolSnapshotInput): PoolSnapshot {
  const { name, settings, members, ringVersion } = input;
  const byInputId = new Map<string, MemberInput>();
  for (const m of members) {
    if (byInputId.has(m.id)) throw new Error(`pool "${name}": duplicate member id "${m.id}"`);
    byInputId.set(m.id, m);
  }
  const ringMembers = members.map((m) => ({ id: m.id, weight: m.weight }));
  const table: HashTable =
    settings.algorithm === "maglev"
      ? buildMaglev(ringMembers, { tableSize: settings.tableSize })
      : buildRingHash(ringMembers, { pointsPerWeight: settings.pointsPerWeight });
  const bounded =
    settings.balanceFactor === undefined
      ? null
      : withBoundedLoad(table, { balanceFactor: settings.balanceFactor });
  const out: SnapshotMember[] = [];
  const eligible = new Uint8Array(table.members.length);
  const byId = new Map<string, number>();
  for (let i = 0; i < table.members.length; i++) {
    const src = byInputId.get(table.members[i].id) as MemberInput;
    const hostPort = hostPortOf(src.address.host, src.address.port);
    const m: SnapshotMember = Object.freeze({
      index: i,
      id: src.id,
      address: Object.freeze({ host: src.address.host, port: src.address.port }),
      hostPort,
      weight: src.weight,
      healthy: src.healthy !== false,
      draining: src.draining === true,
      breakerOpen: src.breakerOpen === true,
      breakerHalfOpen: src.breakerOpen !== true && src.breakerHalfOpen === true,
      agentKey: `${name}/${src.id}@${hostPort}`,
    });
    out.push(m);
    byId.set(m.id, i);
    eligible[i] = !m.healthy || m.draining || m.breakerOpen ? 0 : m.breakerHalfOpen ? 2 : 1;
  }
  return Object.freeze({
    name,
    settings,
    ringVersion,
    table,
    bounded,
    members: Object.freeze(out),
    eligible,
    probe: input.probe ?? null,
    byId,
    retryMethods: new Set(settings.retry.methods.map((m) => m.toUpperCase())),
  });
}
