// Turns a /v1/health/service answer into shardgate's member view and reconciles it against
// the previous view, the way ioredis's ConnectionPool.reset(nodes) does: the desired set is
// computed in full, then compared with what we had to produce added/removed/changed lists.
// Pure functions: no I/O, so every rule here is unit-testable without a server.

import { quoteForLog } from "../config/log-quote.js";

export type CheckStatus = "passing" | "warning" | "critical";

/** One upstream as discovered from Consul. */
export interface DiscoveredMember {
  /** Service.ID (or "node:ID" when two nodes report the same Service.ID). */
  readonly id: string;
  /** Service.Address, else Node.Address. */
  readonly address: string;
  readonly port: number;
  /** Service.Weights.Passing when a positive integer, else 1. */
  readonly weight: number;
  /** Worst status over the entry's checks (node-level ones included); no checks = passing. */
  readonly status: CheckStatus;
  /** status === "passing", or "warning" when warnings count as healthy. */
  readonly healthy: boolean;
  readonly node: string;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  /**
   * Leaving on purpose (a terminating Kubernetes pod): unhealthy, so new keys move, but not a
   * failure signal, so the panic guard neither counts it nor holds it back. Consul never sets it.
   */
  readonly draining?: boolean;
}

export interface MemberDiff {
  readonly added: readonly DiscoveredMember[];
  readonly removed: readonly DiscoveredMember[];
  /** Address, port, weight, tags or meta changed (health may also have changed). */
  readonly changed: readonly { readonly before: DiscoveredMember; readonly after: DiscoveredMember }[];
  /** Members present before and after whose `healthy` flipped. */
  readonly health: readonly { readonly member: DiscoveredMember; readonly wasHealthy: boolean }[];
}

export interface ParseResult {
  /** Members by id, ids sorted ascending (Map keeps insertion order). */
  readonly members: ReadonlyMap<string, DiscoveredMember>;
  /** Entries skipped as malformed, and id collisions resolved, for the log. */
  readonly warnings: readonly string[];
}

const RANK: Record<CheckStatus, number> = { passing: 0, warning: 1, critical: 2 };

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** What one entry object decoded to: its member (own id, frozen), or why it was skipped. */
export type EntryMemo = WeakMap<object, DiscoveredMember | { readonly skipped: string }>;

/**
 * Parses entries defensively: a malformed entry is skipped with a warning, never thrown.
 * A member equal to its entry in `prev` (the last view) is that same object: one instance
 * changing among thousands leaves every other member's identity alone, so consumers (the
 * membership plan's validation cache) redo work only for what changed. `memo` (one per
 * watcher, so one `warningIsHealthy`) remembers what each entry object became: the answer
 * cache hands back the same object for an unchanged entry, which is then not read again.
 */
export function parseHealthEntries(
  body: unknown,
  warningIsHealthy: boolean,
  prev?: ReadonlyMap<string, DiscoveredMember>,
  memo?: EntryMemo,
): ParseResult {
  const warnings: string[] = [];
  if (!Array.isArray(body)) {
    throw new TypeError(
      `expected a JSON array from /v1/health/service, got ${body === null ? "null" : typeof body}`,
    );
  }
  const raw: DiscoveredMember[] = [];
  for (let i = 0; i < body.length; i++) {
    const m = entryMember(body[i], warningIsHealthy, memo);
    if ("skipped" in m) warnings.push(`entry ${i}${m.skipped}`);
    else raw.push(m);
  }
  // Service IDs are unique per agent, not per cluster: two nodes may both report "web-1".
  // Qualify every colliding id with its node so the result does not depend on answer order,
  // joined by ":", which member ids allow ("/" does not: such members were skipped).
  const counts = new Map<string, number>();
  let collisions = false;
  for (const m of raw) {
    const c = (counts.get(m.id) ?? 0) + 1;
    counts.set(m.id, c);
    if (c > 1) collisions = true;
  }
  let out = raw;
  if (collisions) {
    out = [];
    for (const m of raw) {
      if ((counts.get(m.id) ?? 0) > 1) {
        warnings.push(
          `Service.ID ${quoteForLog(m.id)} is reported by several nodes; using ${quoteForLog(`${m.node}:${m.id}`)}`,
        );
        out.push(Object.freeze({ ...m, id: `${m.node}:${m.id}` }));
      } else {
        out.push(m);
      }
    }
  }
  // Consul answers in a stable order, usually sorted already: checking costs less than sorting.
  let sorted = true;
  for (let i = 1; i < out.length && sorted; i++) if (out[i - 1].id > out[i].id) sorted = false;
  if (!sorted) out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const members = new Map<string, DiscoveredMember>();
  for (const m of out) {
    if (members.has(m.id)) {
      warnings.push(`duplicate member id ${quoteForLog(m.id)} on one node; keeping the first`);
      continue;
    }
    const old = prev?.get(m.id);
    if (old !== undefined && sameMember(old, m)) members.set(m.id, old);
    else members.set(m.id, m);
  }
  return { members, warnings };
}

/** What one entry becomes (memoised per entry object in `memo`): its member, or why it is skipped. */
export function entryMember(
  e: unknown,
  warningIsHealthy: boolean,
  memo?: EntryMemo,
): DiscoveredMember | { readonly skipped: string } {
  const key = e !== null && typeof e === "object" ? e : undefined;
  let m = key === undefined ? undefined : memo?.get(key);
  if (m === undefined) {
    m = extractMember(e, warningIsHealthy);
    if (key !== undefined) memo?.set(key, m);
  }
  return m;
}

/** `m` says nothing `old` does not: parseHealthEntries keeps `old` (its identity) for it. */
export function sameMember(old: DiscoveredMember, m: DiscoveredMember): boolean {
  return old === m || (old.status === m.status && old.healthy === m.healthy && sameShape(old, m));
}

/** One entry's member (frozen), or the reason it is skipped (the warning after "entry N"). */
function extractMember(e: unknown, warningIsHealthy: boolean): DiscoveredMember | { skipped: string } {
  const entry = obj(e);
  const svc = obj(entry?.Service);
  const node = obj(entry?.Node);
  if (entry === undefined || svc === undefined || node === undefined) {
    return { skipped: ": missing Service or Node; skipped" };
  }
  const id = str(svc.ID);
  const address = str(svc.Address) || str(node.Address);
  const port = svc.Port;
  if (
    id === "" ||
    address === "" ||
    typeof port !== "number" ||
    !Number.isInteger(port) ||
    port < 0 ||
    port > 65535
  ) {
    return {
      skipped: ` (id ${quoteForLog(id)}): needs a Service.ID, an address and a port 0..65535; skipped`,
    };
  }
  const w = obj(svc.Weights)?.Passing;
  const weight = typeof w === "number" && Number.isSafeInteger(w) && w >= 1 ? w : 1;
  let status: CheckStatus = "passing";
  const checks = Array.isArray(entry.Checks) ? entry.Checks : [];
  for (const c of checks) {
    const s = str(obj(c)?.Status);
    // Unknown statuses (e.g. "maintenance" from another tool) count as critical: fail safe.
    const st: CheckStatus = s === "passing" || s === "warning" ? s : "critical";
    if (RANK[st] > RANK[status]) status = st;
  }
  const tags = Array.isArray(svc.Tags) ? svc.Tags.filter((t): t is string => typeof t === "string") : [];
  const metaObj = obj(svc.Meta) ?? {};
  const meta: Record<string, string> = {};
  for (const k of Object.keys(metaObj)) if (typeof metaObj[k] === "string") meta[k] = metaObj[k] as string;
  return Object.freeze({
    id,
    address,
    port,
    weight,
    status,
    healthy: status === "passing" || (warningIsHealthy && status === "warning"),
    node: str(node.Node),
    tags: Object.freeze(tags),
    meta: Object.freeze(meta),
  });
}

export function sameShape(a: DiscoveredMember, b: DiscoveredMember): boolean {
  if (a.address !== b.address || a.port !== b.port || a.weight !== b.weight || a.node !== b.node)
    return false;
  if ((a.draining ?? false) !== (b.draining ?? false)) return false;
  if (a.tags.length !== b.tags.length || a.tags.some((t, i) => t !== b.tags[i])) return false;
  const ak = Object.keys(a.meta);
  if (ak.length !== Object.keys(b.meta).length) return false;
  return ak.every((k) => a.meta[k] === b.meta[k]);
}

/** Compares the previous view with the desired one. */
export function diffMembers(
  prev: ReadonlyMap<string, DiscoveredMember>,
  next: ReadonlyMap<string, DiscoveredMember>,
): MemberDiff {
  const added: DiscoveredMember[] = [];
  const removed: DiscoveredMember[] = [];
  const changed: { before: DiscoveredMember; after: DiscoveredMember }[] = [];
  const health: { member: DiscoveredMember; wasHealthy: boolean }[] = [];
  for (const [id, m] of next) {
    const old = prev.get(id);
    if (old === undefined) {
      added.push(m);
      continue;
    }
    // parseHealthEntries hands back the previous object for an unchanged member: nothing to
    // compare, so a change to one member of thousands costs that member, not the service.
    if (old === m) continue;
    if (!sameShape(old, m)) changed.push({ before: old, after: m });
    if (old.healthy !== m.healthy) health.push({ member: m, wasHealthy: old.healthy });
  }
  for (const [id, m] of prev) if (!next.has(id)) removed.push(m);
  return { added, removed, changed, health };
}

/** True when the diff holds no change at all (statuses that do not flip `healthy` are ignored). */
export function isEmptyDiff(d: MemberDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0 && d.health.length === 0;
}
