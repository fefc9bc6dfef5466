// Turns the EndpointSlices of one Kubernetes Service into shardgate's member view. Pure: the
// watcher keeps the slices (by name) and calls this after every change; the diff against the
// previous view is the same `diffMembers` Consul uses.
//
// Member id = the pod name (targetRef.name), never the IP: a StatefulSet pod rescheduled with a
// new IP keeps its name, so it keeps its place on the ring (envoyproxy/envoy#9074 is what
// keying by IP does). Conditions: `ready` (unset = true) -> healthy; `terminating` -> leaving
// on purpose (draining: unhealthy, outside the panic guard); not ready and not terminating ->
// unhealthy (a failure the guard may hold back).

import { quoteForLog } from "../config/log-quote.js";
import { type DiscoveredMember, sameMember } from "./consul-members.js";

/** What a slice looks like on the wire (only the fields read here; all optional, all checked). */
export interface EndpointSliceLike {
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Readonly<Record<string, string>> | null;
  };
  addressType?: string;
  ports?: readonly { name?: string | null; port?: number | null }[] | null;
  endpoints?: readonly unknown[] | null;
}

export interface SliceParseResult {
  /** Members by id, ids sorted ascending. */
  readonly members: ReadonlyMap<string, DiscoveredMember>;
  /** Endpoints skipped (no pod name, no address, no matching port), for the log. */
  readonly warnings: readonly string[];
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/**
 * The port this slice serves `wanted` on, or undefined. A name matches the slice port of that
 * name; a number matches a slice port with that number, or stands as it is when the slice
 * declares no port at all (a headless Service without ports means "every port").
 */
export function slicePort(slice: EndpointSliceLike, wanted: string | number): number | undefined {
  const ports = Array.isArray(slice.ports) ? slice.ports : [];
  for (const p of ports) {
    const o = obj(p);
    if (o === undefined) continue;
    const n = o.port;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 65535) continue;
    if (typeof wanted === "string" ? o.name === wanted : n === wanted) return n;
  }
  return typeof wanted === "number" && ports.length === 0 ? wanted : undefined;
}

interface Candidate {
  member: DiscoveredMember;
  /** targetRef.uid, else the id: the same pod listed by two slices during a move is one member. */
  key: string;
}

/**
 * Merges every slice of the Service into one member view. Slices are read in name order and
 * a pod listed twice keeps its ready entry (else its first), so the result does not depend on
 * the order the API server returned them in. A member equal to its entry in `last` (the last
 * view) is that same object, as Consul's parseHealthEntries does: one endpoint flipping among
 * 5,000 leaves the others' identity alone, so the membership plan's schema checks (cached by
 * object) run for the one that changed, not for all 5,000 on every watch event.
 */
export function parseEndpointSlices(
  slices: Iterable<EndpointSliceLike>,
  port: string | number,
  last?: ReadonlyMap<string, DiscoveredMember>,
): SliceParseResult {
  const warnings: string[] = [];
  const ordered = [...slices].sort((a, b) => {
    const x = str(a.metadata?.name);
    const y = str(b.metadata?.name);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const byKey = new Map<string, Candidate>();
  for (const slice of ordered) {
    const sliceName = quoteForLog(str(slice.metadata?.name) || "(unnamed slice)");
    const endpoints = Array.isArray(slice.endpoints) ? slice.endpoints : [];
    if (endpoints.length === 0) continue;
    const p = slicePort(slice, port);
    if (p === undefined) {
      warnings.push(`slice ${sliceName}: no port ${JSON.stringify(port)}; its endpoints are skipped`);
      continue;
    }
    for (let i = 0; i < endpoints.length; i++) {
      const e = obj(endpoints[i]);
      const ref = obj(e?.targetRef);
      const id = str(ref?.name) || str(e?.hostname);
      const addresses = Array.isArray(e?.addresses) ? (e?.addresses as unknown[]) : [];
      const address = str(addresses[0]);
      if (e === undefined || id === "" || address === "") {
        warnings.push(
          `slice ${sliceName} endpoint ${i}: needs a targetRef.name (pod) and an address; skipped`,
        );
        continue;
      }
      const cond = obj(e.conditions) ?? {};
      // The API's rule: an unset condition means "unknown", to be read as true (ready, serving).
      const ready = cond.ready !== false;
      const terminating = cond.terminating === true;
      const healthy = ready && !terminating;
      const zone = str(e.zone);
      const meta: Record<string, string> = {};
      if (zone !== "") meta.zone = zone;
      const member: DiscoveredMember = Object.freeze({
        id,
        address,
        port: p,
        weight: 1,
        status: healthy ? "passing" : "critical",
        healthy,
        node: str(e.nodeName),
        tags: Object.freeze([]) as readonly string[],
        meta: Object.freeze(meta),
        draining: terminating,
      });
      const key = str(ref?.uid) || id;
      const prev = byKey.get(key);
      if (prev === undefined || (!prev.member.healthy && healthy)) byKey.set(key, { member, key });
    }
  }
  const list = [...byKey.values()].map((c) => c.member);
  list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const members = new Map<string, DiscoveredMember>();
  for (const m of list) {
    // Two pods with one name (different uids) only happen across a delete/recreate race:
    // keep the healthy one, the other goes with its old slice entry.
    const prev = members.get(m.id);
    if (prev !== undefined) {
      warnings.push(`pod name ${quoteForLog(m.id)} is listed twice with different uids; keeping one`);
      if (prev.healthy || !m.healthy) continue;
    }
    const old = last?.get(m.id);
    members.set(m.id, old !== undefined && sameMember(old, m) ? old : m);
  }
  return { members, warnings };
}
