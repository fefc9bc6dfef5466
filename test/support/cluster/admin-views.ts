// The admin API shapes the fleet tests read (/admin/state with its "raft" section,
// /admin/route), checked on arrival: when an instance answers without a field the fleet
// wiring is meant to provide, the error names the field instead of a later `undefined`.

export type BreakerView = "closed" | "open" | "half-open";

export interface RaftView {
  id: string;
  role: string;
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  voters: string[];
  learners: string[];
  /** Whether this instance's data directory is an admitted voter (issue 9). */
  admitted?: boolean;
}

export interface MemberView {
  id: string;
  address: string;
  weight: number;
  healthy: boolean;
  draining: boolean;
  breaker: BreakerView;
}

export interface PoolView {
  ringVersion: number;
  members: MemberView[];
}

export interface StateView {
  ringVersion: number;
  pools: Record<string, PoolView>;
  raft: RaftView;
  /** Why the instance is degraded (no_quorum, apply_stalled ...), and the cause when it has one. */
  degraded?: string;
  degradedCause?: string;
}

export interface RouteView {
  pool: string;
  key?: string;
  owner: string | null;
  member: string | null;
  skipped: Array<{ id: string; reason: string }>;
  ringVersion: number;
}

function fail(where: string, what: string, body: unknown): never {
  throw new Error(`${where}: ${what}; got ${JSON.stringify(body).slice(0, 600)}`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Validates a GET /admin/state body of a clustered instance. */
export function parseState(where: string, body: unknown): StateView {
  if (!isObj(body)) fail(where, "expected a JSON object from /admin/state", body);
  if (typeof body.ringVersion !== "number") fail(where, "/admin/state lacks a numeric ringVersion", body);
  const raft = body.raft;
  if (!isObj(raft)) fail(where, '/admin/state lacks the "raft" section (issue 5)', body);
  for (const k of ["term", "commitIndex", "appliedIndex"])
    if (typeof raft[k] !== "number") fail(where, `raft.${k} is not a number`, raft);
  if (typeof raft.id !== "string" || typeof raft.role !== "string") fail(where, "raft.id/raft.role", raft);
  if (!Array.isArray(raft.voters) || !Array.isArray(raft.learners)) fail(where, "raft.voters/learners", raft);
  if (!isObj(body.pools)) fail(where, "/admin/state lacks pools", body);
  for (const [name, p] of Object.entries(body.pools)) {
    if (!isObj(p) || !Array.isArray(p.members)) fail(where, `pool ${name} lacks members`, p);
    for (const m of p.members as unknown[]) {
      if (!isObj(m) || typeof m.id !== "string") fail(where, `pool ${name}: a member without id`, m);
      if (m.breaker !== "closed" && m.breaker !== "open" && m.breaker !== "half-open")
        fail(where, `pool ${name} member ${m.id}: "breaker" must be closed|open|half-open (issue 5)`, m);
    }
  }
  const leader = raft.leader === "" || raft.leader === undefined ? null : raft.leader;
  return {
    ...(body as unknown as StateView),
    raft: { ...(raft as unknown as RaftView), leader } as RaftView,
  };
}

/** Validates a GET /admin/route body. */
export function parseRoute(where: string, body: unknown): RouteView {
  if (!isObj(body)) fail(where, "expected a JSON object from /admin/route", body);
  if (typeof body.ringVersion !== "number") fail(where, "/admin/route lacks ringVersion", body);
  if (!("member" in body) || !("owner" in body)) fail(where, "/admin/route lacks member/owner", body);
  return body as unknown as RouteView;
}

/** "id=healthy/draining/breaker" per member, sorted: a compact, comparable fingerprint. */
export function membersFingerprint(p: PoolView | undefined): string {
  if (p === undefined) return "<no pool>";
  return p.members
    .map(
      (m) => `${m.id}@${m.address}:${m.healthy ? "up" : "down"}${m.draining ? ",drained" : ""},${m.breaker}`,
    )
    .sort()
    .join(" ");
}
