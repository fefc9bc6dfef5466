// GET /admin/dashboard[?pool=P&offset=N&show=all|out]: everything the dashboard page shows in one
// answer (this instance's state with each pool summarised as counts, one page of the chosen
// pool's members with their live figures, recent ring changes, the fleet's Raft views, the
// signals panel's metric families). What it reads is gathered at most once per FEED_TTL_MS and
// shared by every open page, so ten dashboards cost about what one does (see `npm run bench --
// dashboard`); what one page asks for is cut from that, and live figures are read for the
// page's members only, so an answer's size and cost follow the page, not the pool
// (dashboard-members.ts).

import { type MemberFilter, memberPage, summarisePool } from "./dashboard-members.js";
import { htmlSafeJson } from "./html-safe-json.js";
import type { OpsBackend } from "./ops-types.js";
import type { AdminError, AdminResult, AdminStateView } from "./types.js";

const FEED_TTL_MS = 500;
/** Answers kept per gathering: distinct pages asked for within FEED_TTL_MS beyond this are built each time. */
const MAX_TEXTS = 32;
/** Highest offset accepted: far beyond any pool, short enough to stay a small number. */
const MAX_OFFSET = 1e9;

export interface FeedQuery {
  /** The pool whose members are listed; null: the first by name. */
  pool: string | null;
  offset: number;
  show: MemberFilter;
}

interface Gathered {
  at: number;
  base: Promise<Base>;
  texts: Map<string, string>;
}

interface Base {
  at: string;
  state: AdminStateView;
  summary: unknown;
  changes: unknown[];
  fleet: unknown;
  signals: unknown;
}

function badParameter(message: string): AdminError {
  return { status: 400, error: "bad_parameter", message };
}

/** Reads the page's query: `pool`, `offset` (a whole number) and `show` (all or out). */
export function feedQuery(params: URLSearchParams): AdminResult<FeedQuery> {
  // `offset=0&offset=300` names two pages; answering one of them would hide the caller's mistake.
  for (const name of ["pool", "offset", "show"])
    if (params.getAll(name).length > 1)
      return { ok: false, err: badParameter(`${name}: given more than once`) };
  const pool = params.get("pool");
  const offsetText = params.get("offset") ?? "0";
  const show = params.get("show") ?? "all";
  if (!/^\d{1,10}$/.test(offsetText) || Number(offsetText) > MAX_OFFSET)
    return { ok: false, err: badParameter(`offset: expected a whole number up to ${MAX_OFFSET}`) };
  if (show !== "all" && show !== "out")
    return { ok: false, err: badParameter('show: expected "all" or "out"') };
  return { ok: true, value: { pool: pool === "" ? null : pool, offset: Number(offsetText), show } };
}

export class DashboardFeed {
  private gathered: Gathered | undefined;

  constructor(
    private readonly ops: OpsBackend,
    private readonly state: () => AdminStateView,
  ) {}

  async read(q: FeedQuery): Promise<AdminResult<string>> {
    const g = this.gather();
    const base = await g.base;
    const names = Object.keys(base.state.pools).sort();
    const pool = q.pool ?? names[0] ?? null;
    // Own keys only: `constructor` or `__proto__` is no pool, not Object.prototype's member.
    if (pool !== null && !Object.hasOwn(base.state.pools, pool))
      return { ok: false, err: { status: 404, error: "unknown_pool", message: `no pool named "${pool}"` } };
    // The offset itself, not its page number: offset 50 lists members 50..149, not 0..99.
    const key = `${pool}\n${q.show}\n${q.offset}`;
    let text = g.texts.get(key);
    if (text === undefined) {
      const live = (name: string) => (ids: readonly string[]) =>
        this.ops.live({ pool: name, ids }).pools[name];
      const body = {
        at: base.at,
        state: base.summary,
        members:
          pool === null ? null : memberPage(pool, base.state.pools[pool], q.show, q.offset, live(pool)),
        changes: base.changes,
        fleet: base.fleet,
        signals: base.signals,
      };
      text = `${htmlSafeJson(body)}\n`;
      if (g.texts.size < MAX_TEXTS) g.texts.set(key, text);
    }
    return { ok: true, value: text };
  }

  private gather(): Gathered {
    const now = performance.now();
    if (this.gathered !== undefined && now - this.gathered.at < FEED_TTL_MS) return this.gathered;
    const g: Gathered = { at: now, base: this.build(), texts: new Map() };
    this.gathered = g;
    // A failed gathering is not kept.
    g.base.catch(() => {
      if (this.gathered === g) this.gathered = undefined;
    });
    return g;
  }

  private async build(): Promise<Base> {
    const [fleet, signals] = await Promise.all([this.ops.fleet(), this.ops.signals?.() ?? null]);
    const state = this.state();
    const pools: Record<string, unknown> = {};
    for (const [name, p] of Object.entries(state.pools)) pools[name] = summarisePool(p);
    return {
      at: new Date().toISOString(),
      state,
      summary: { ...state, pools },
      changes: this.ops.changes().slice(-20),
      fleet,
      signals,
    };
  }
}
