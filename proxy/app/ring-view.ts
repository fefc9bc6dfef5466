// GET /admin/ring?pool=P: the pool's hash table as the dashboard draws it. A ring-hash pool
// gives its arcs (the hash range each member owns, merged runs, covering [0, 2^32)) and each
// member's share of the hash space; a Maglev pool gives each member's share of the lookup
// table (its entries are spread over the table, so there are no arcs to draw). Built once per
// request, never on the request path; the page asks again only when the ring version changes.

import { BoundedLoad } from "../../ring/bounded-load.js";
import { Maglev } from "../../ring/maglev.js";
import { RingHash } from "../../ring/ring-hash.js";
import type { AdminResult } from "../admin/types.js";
import type { RoutingState } from "../routing/types.js";

const SPACE = 2 ** 32;
/** More arcs than this (large pools) are drawn as SECTORS equal slices, each named by its midpoint's owner. */
const MAX_ARCS = 2_048;
const SECTORS = 1_440;

export interface RingView {
  pool: string;
  algorithm: string;
  ringVersion: number;
  /** Table entries: ring points or Maglev slots. */
  size: number;
  /** Members in the pool; `members` lists them all, or with `top` only some. */
  memberCount: number;
  /** In pool order; `index` is the member's place in the pool (the page colours by it). */
  members: Array<{
    id: string;
    index: number;
    share: number;
    healthy: boolean;
    draining: boolean;
    breakerOpen: boolean;
  }>;
  /** [start, end, index into `members`], start inclusive, end exclusive; null for Maglev. */
  arcs: Array<[number, number, number]> | null;
  /** True when `arcs` are coarsened to SECTORS slices (too many arcs to draw); shares stay exact. */
  coarse: boolean;
}

/** Equal slices of the hash space, merged into runs, each owned by its midpoint's owner. */
function sectorArcs(r: RingHash): Array<[number, number, number]> {
  const arcs: Array<[number, number, number]> = [];
  for (let k = 0; k < SECTORS; k++) {
    const start = Math.floor((k * SPACE) / SECTORS);
    const end = Math.floor(((k + 1) * SPACE) / SECTORS);
    const owner = r.lookup(Math.floor((start + end) / 2) >>> 0);
    const last = arcs[arcs.length - 1];
    if (last !== undefined && last[2] === owner) last[1] = end;
    else arcs.push([start, end, owner]);
  }
  return arcs;
}

/**
 * Each member's owned hash range, and the merged arcs while there are at most MAX_ARCS of them
 * (null beyond: a 10,000-member ring has 1.6 M points, and an array per arc was 0.8 s of
 * allocation for a list then thrown away for the sectors).
 */
function ringArcs(r: RingHash): { arcs: Array<[number, number, number]> | null; owned: Float64Array } {
  const n = r.points.length;
  const owned = new Float64Array(r.members.length);
  let arcs: Array<[number, number, number]> | null = [];
  const push = (start: number, end: number, owner: number) => {
    if (end <= start) return;
    owned[owner] += end - start;
    if (arcs === null) return;
    const last = arcs[arcs.length - 1];
    if (last !== undefined && last[2] === owner && last[1] === start) last[1] = end;
    else if (arcs.length === MAX_ARCS) arcs = null;
    else arcs.push([start, end, owner]);
  };
  if (n === 0) return { arcs, owned };
  // lookup(h) is the first point >= h: point j owns (points[j-1], points[j]], point 0 also the wrap.
  push(0, r.points[0] + 1, r.owners[0]);
  for (let j = 1; j < n; j++) push(r.points[j - 1] + 1, r.points[j] + 1, r.owners[j]);
  push(r.points[n - 1] + 1, SPACE, r.owners[0]);
  return { arcs, owned };
}

/**
 * The pool's table for drawing. With `top`, `members` lists only the members the arcs name and
 * the `top` largest shares: a 10,000-member pool listed whole was 860 KB, fetched again by every
 * open dashboard on each ring change.
 */
export function ringView(state: RoutingState, pool: string, top?: number): AdminResult<RingView> {
  const snap = state.pools.get(pool);
  if (snap === undefined)
    return { ok: false, err: { status: 404, error: "unknown_pool", message: `no pool named "${pool}"` } };
  const table = snap.table instanceof BoundedLoad ? snap.table.inner : snap.table;
  let arcs: RingView["arcs"] = null;
  let coarse = false;
  let shares: number[];
  let size: number;
  if (table instanceof RingHash) {
    const r = ringArcs(table);
    arcs = r.arcs;
    if (arcs === null) {
      arcs = sectorArcs(table);
      coarse = true;
    }
    shares = [...r.owned].map((o) => o / SPACE);
    size = table.points.length;
  } else if (table instanceof Maglev) {
    const counts = new Float64Array(table.members.length);
    for (let i = 0; i < table.table.length; i++) counts[table.table[i]]++;
    shares = [...counts].map((c) => c / table.table.length);
    size = table.table.length;
  } else {
    shares = table.members.map(() => 1 / Math.max(1, table.members.length));
    size = table.members.length;
  }
  let listed = snap.members.map((_, i) => i);
  if (top !== undefined && top < snap.members.length) {
    const keep = new Set<number>();
    for (const a of arcs ?? []) keep.add(a[2]);
    const byShare = listed.slice().sort((a, b) => (shares[b] ?? 0) - (shares[a] ?? 0) || a - b);
    for (const i of byShare.slice(0, top)) keep.add(i);
    listed = [...keep].sort((a, b) => a - b);
    const at = new Map(listed.map((index, k) => [index, k]));
    if (arcs !== null) arcs = arcs.map(([s, e, i]) => [s, e, at.get(i) as number]);
  }
  return {
    ok: true,
    value: {
      pool,
      algorithm: snap.settings.algorithm,
      ringVersion: snap.ringVersion,
      size,
      memberCount: snap.members.length,
      members: listed.map((i) => {
        const m = snap.members[i];
        return {
          id: m.id,
          index: i,
          share: Math.round((shares[i] ?? 0) * 1e4) / 1e4,
          healthy: m.healthy,
          draining: m.draining,
          breakerOpen: m.breakerOpen,
        };
      }),
      arcs,
      coarse,
    },
  };
}
