// What the dashboard shows of a pool's members: per-pool counts, and one page of rows. A pool of
// 10,000 members sent whole every second was 2.4 MB per update and 190,000 DOM nodes in the
// page (seconds-long main-thread tasks); a page of PAGE_ROWS members and the counts are what an
// operator reads at that size, as Envoy's and HAProxy's admin pages summarise or page.

import type { MemberLiveView } from "./ops-types.js";
import type { AdminMemberView, AdminPoolView } from "./types.js";

/** Member rows in one dashboard update. */
export const PAGE_ROWS = 100;

/** Which members a page lists: all of them, or those not taking requests. */
export type MemberFilter = "all" | "out";

/** A pool as the dashboard's header and selector show it: no member list, only counts. */
export interface PoolSummary extends Omit<AdminPoolView, "members"> {
  members: number;
  unhealthy: number;
  draining: number;
  /** Members whose committed breaker is not closed. */
  breakerNotClosed: number;
  /** Members not taking requests (unhealthy, draining or breaker open), the "out" filter's total. */
  out: number;
}

/** One row: the member, its index in the pool (the page colours by it) and its live figures. */
export interface MemberRow extends AdminMemberView {
  index: number;
  live: MemberLiveView | null;
}

export interface MemberPage {
  pool: string;
  show: MemberFilter;
  offset: number;
  /** Members the filter selects; `rows` are `offset` .. `offset + rows.length - 1` of them. */
  total: number;
  pageRows: number;
  rows: MemberRow[];
}

function isOut(m: AdminMemberView): boolean {
  return !m.healthy || m.draining || m.breaker !== "closed";
}

export function summarisePool(p: AdminPoolView): PoolSummary {
  let unhealthy = 0;
  let draining = 0;
  let breakerNotClosed = 0;
  let out = 0;
  for (const m of p.members) {
    if (!m.healthy) unhealthy++;
    if (m.draining) draining++;
    if (m.breaker !== "closed") breakerNotClosed++;
    if (isOut(m)) out++;
  }
  const { members, ...rest } = p;
  return { ...rest, members: members.length, unhealthy, draining, breakerNotClosed, out };
}

/**
 * The page of `pool`'s members starting at `offset` (clamped to the last page) among those
 * `show` selects, each with its live figures as `live` gives them for the page's ids.
 */
export function memberPage(
  name: string,
  p: AdminPoolView,
  show: MemberFilter,
  offset: number,
  live: (ids: readonly string[]) => Record<string, MemberLiveView> | undefined,
): MemberPage {
  const picked: number[] = [];
  if (show === "out") for (const [i, m] of p.members.entries()) if (isOut(m)) picked.push(i);
  const total = show === "out" ? picked.length : p.members.length;
  const start = Math.max(0, Math.min(offset, Math.floor(Math.max(0, total - 1) / PAGE_ROWS) * PAGE_ROWS));
  const indexes: number[] = [];
  for (let k = start; k < Math.min(total, start + PAGE_ROWS); k++)
    indexes.push(show === "out" ? picked[k] : k);
  const figures = live(indexes.map((i) => p.members[i].id));
  const rows = indexes.map((index): MemberRow => {
    const m = p.members[index];
    return { ...m, index, live: figures?.[m.id] ?? null };
  });
  return { pool: name, show, offset: start, total, pageRows: PAGE_ROWS, rows };
}
