// Leader-side breaker controller: feeds outcome batches (OutcomeRecorder.drain() from this
// instance and from followers) into one BreakerDecider per pool, ticks the deciders for
// open -> half-open timing, and proposes a SetBreaker for every transition so all instances
// apply the same breaker state at the same log index. Only the Raft leader runs it: start()
// adopts every member's committed breaker state (a new leader continues where the old one
// stopped), stop() drops everything.
//
// Proposals are kept per member, latest wanted state wins, one in flight per member (a
// ProposalCycle, as in the membership and health controllers, but one per member since
// breakers of one pool trip independently): a failed proposal is retried on the next tick,
// and a state the committed log already holds is never proposed again.

import type { MemberState, PoolState } from "../config/state/types.js";
import { BreakerDecider, type BreakerOverride, type BreakerTransition, type BreakerView } from "./breaker.js";
import { ControllerError, errorText, numberOption, type TimerHandle } from "./controller/deps.js";
import { LeaderController, type LeaderControllerOptions } from "./controller/leader-controller.js";
import { ProposalCycle } from "./controller/proposal-cycle.js";
import type { OutcomeBatch, OutcomeCounts } from "./outcome-recorder.js";

/**
 * `until` of a breaker an operator forced open: it never moves to half-open by itself. A new
 * leader recognises pinned breakers by the committed `override` field ("open" | "closed").
 */
export const FORCED_OPEN_UNTIL = Number.MAX_SAFE_INTEGER;

export interface BreakerControllerOptions extends LeaderControllerOptions {
  /** Interval of the cool-down / retry tick (default 100 ms). */
  tickMs?: number;
  /** Every transition the decider emitted, before it is proposed (for metrics and logs). */
  onTransition?: (t: BreakerTransition) => void;
}

export interface IngestResult {
  /** Entries handed to a decider. */
  readonly accepted: number;
  /** Entries for unknown pools/members, pools with the breaker disabled, or malformed. */
  readonly ignored: number;
  /** Transitions the batch caused (already queued for proposal). */
  readonly transitions: number;
}

export interface BreakerControllerStatus {
  readonly running: boolean;
  /** Members whose wanted state is not committed yet. */
  readonly pending: number;
  readonly inFlight: number;
  readonly proposals: number;
  readonly failedProposals: number;
  readonly lastProposalError: string | undefined;
  readonly batches: number;
  readonly ignoredEntries: number;
}

/** What a pool's decider is built from; a change rebuilds it. */
function deciderKey(pool: PoolState): string {
  return `${JSON.stringify(pool.settings.breaker)} ${pool.settings.timeouts.response}`;
}

interface PoolDecider {
  readonly key: string;
  readonly decider: BreakerDecider;
  members: Set<string>;
  /** The committed member list last reconciled (unchanged members keep their identity). */
  reconciled: readonly MemberState[];
}

interface Wanted {
  readonly pool: string;
  readonly member: string;
  readonly state: "closed" | "open" | "half-open";
  readonly since: number;
  readonly until: number;
  readonly trips: number;
  readonly override: BreakerOverride;
  waiters: { resolve: () => void; reject: (err: Error) => void }[];
}

const memberKey = (pool: string, member: string) => `${pool}\u0000${member}`;

type Expected = {
  state: "closed" | "open" | "half-open";
  until: number;
  trips: number;
  override: BreakerOverride;
};

function sameCommitted(m: MemberState, w: Expected): boolean {
  return m.breaker.state === w.state && m.breaker.trips === w.trips && m.breaker.override === w.override;
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0;
}

function validEntry(e: unknown): e is OutcomeCounts {
  if (e === null || typeof e !== "object") return false;
  const o = e as Record<string, unknown>;
  return (
    typeof o.pool === "string" &&
    typeof o.member === "string" &&
    isCount(o.success) &&
    isCount(o.failure) &&
    isCount(o.consecutive) &&
    isCount(o.maxConsecutive)
  );
}

export class BreakerController extends LeaderController {
  private readonly tickMs: number;
  private readonly onTransition: ((t: BreakerTransition) => void) | undefined;
  private readonly pools = new Map<string, PoolDecider>();
  private readonly wanted = new Map<string, Wanted>();
  /**
   * The cycle of each member with a proposal in flight. stop() closes them: a proposal that
   * settles after leadership was lost finds its cycle closed and is ignored.
   */
  private readonly inFlight = new Map<string, ProposalCycle>();
  private timer: TimerHandle | undefined;
  /** Proposals and failures of the cycles that settled (in-flight ones add theirs in status()). */
  private proposals = 0;
  private failedProposals = 0;
  private lastError: string | undefined;
  private batches = 0;
  private ignoredEntries = 0;

  constructor(opts: BreakerControllerOptions) {
    const what = "breaker controller";
    super(what, opts);
    this.tickMs = numberOption(what, "tickMs", opts.tickMs, 100, 1, 60_000);
    this.onTransition = opts.onTransition;
  }

  /** Becoming leader: adopts every committed breaker state and starts ticking. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.refresh();
    this.schedule();
  }

  /** Losing leadership: drops deciders and wanted states; waiting force() calls reject. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const cycle of this.inFlight.values()) {
      this.proposals += cycle.proposals;
      cycle.close();
    }
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const err = new ControllerError("HEALTH_NOT_RUNNING", "breaker controller stopped (leadership lost)");
    for (const w of this.wanted.values()) for (const x of w.waiters) x.reject(err);
    this.wanted.clear();
    this.inFlight.clear();
    this.pools.clear();
  }

  /**
   * Reconciles with the committed state; the wiring calls it after every applied command that
   * changed pools. New pools and members are adopted, leavers forgotten, changed breaker
   * settings rebuild the pool's decider, and a committed state that differs from the
   * decider's while nothing is pending for that member (an address move reset it, an old
   * leader's late commit) is adopted as the truth.
   */
  refresh(): void {
    if (!this.running) return;
    const state = this.getState();
    const now = this.clock.now();
    for (const [name, p] of this.pools) {
      const pool = state.pools[name];
      if (pool === undefined || !pool.settings.breaker.enabled || deciderKey(pool) !== p.key) {
        this.pools.delete(name);
        if (pool === undefined) this.dropWanted(name, undefined);
      }
    }
    for (const name of Object.keys(state.pools)) {
      const pool = state.pools[name];
      if (!pool.settings.breaker.enabled) {
        // Nothing would ever close these again; the data plane honours committed state only.
        for (const m of pool.members) {
          if (m.breaker.state !== "closed")
            this.want(name, m.id, { state: "closed", until: 0, trips: 0, override: "auto" }, undefined);
        }
        continue;
      }
      let p = this.pools.get(name);
      if (p === undefined) {
        // The settings passed the config schema when they were committed: nothing to re-check.
        p = {
          key: deciderKey(pool),
          decider: new BreakerDecider(pool.settings.breaker, pool.settings.timeouts.response),
          members: new Set(),
          reconciled: [],
        };
        this.pools.set(name, p);
      }
      this.reconcileMembers(name, pool, p, now);
    }
    this.flush();
  }

  private reconcileMembers(name: string, pool: PoolState, p: PoolDecider, now: number): void {
    // A member object the last reconcile saw was settled then (adopted, matching, or
    // pending) and every later decider change goes through a proposal: only changed objects
    // need a look, so a drain, a join or a leave at 5,000 members visits one member. Both
    // lists are in id order (committed pools are): walked side by side, an unchanged object
    // is found without a lookup; a list out of order only finds fewer.
    const last = p.reconciled;
    p.reconciled = pool.members;
    let j = 0;
    for (let i = 0; i < pool.members.length; i++) {
      const m = pool.members[i];
      while (j < last.length && last[j].id < m.id) j++;
      if (j < last.length && last[j] === m) continue;
      const k = memberKey(name, m.id);
      if (p.members.has(m.id) && (this.wanted.has(k) || this.inFlight.has(k))) continue;
      if (p.members.has(m.id) && sameCommitted(m, this.expected(p.decider.view(name, m.id)))) continue;
      const reopens = m.breaker.state === "closed" ? 0 : Math.max(0, m.breaker.trips - 1);
      p.decider.adopt(name, m.id, m.breaker.state, reopens, now, m.breaker.override);
      p.members.add(m.id);
    }
    if (p.members.size === pool.members.length) return;
    // Leavers: in the last list and not in this one (both in id order), found by a merge walk
    // instead of a Set of the whole pool per leave; the Set below only if some remain.
    j = 0;
    for (let i = 0; i < last.length; i++) {
      const id = last[i].id;
      while (j < pool.members.length && pool.members[j].id < id) j++;
      if ((j < pool.members.length && pool.members[j].id === id) || !p.members.has(id)) continue;
      p.decider.remove(name, id);
      p.members.delete(id);
      this.dropWanted(name, id);
    }
    if (p.members.size === pool.members.length) return;
    const present = new Set<string>();
    for (const m of pool.members) present.add(m.id);
    for (const id of p.members) {
      if (present.has(id)) continue;
      p.decider.remove(name, id);
      p.members.delete(id);
      this.dropWanted(name, id);
    }
  }

  /** The committed form of a decider view (trips = re-opens + 1 while not closed; 0 when forced). */
  private expected(v: BreakerView): Expected {
    if (v.state === "closed") return { state: "closed", until: 0, trips: 0, override: v.override };
    if (v.override === "open") return { state: "open", until: FORCED_OPEN_UNTIL, trips: 0, override: "open" };
    return { state: v.state, until: 0, trips: v.reopens + 1, override: "auto" };
  }

  /**
   * Ingests one instance's drained batch (`from` names the instance, for logs). Entries for
   * unknown pools or members, or malformed ones, are counted and ignored; never throws on
   * bad input. Transitions are proposed at once (not on the next tick).
   */
  ingest(batch: OutcomeBatch, from = "local"): IngestResult {
    this.batches++;
    const entries: unknown = (batch as { entries?: unknown } | null | undefined)?.entries;
    if (!Array.isArray(entries)) {
      this.ignoredEntries++;
      this.log.warn({ from }, "breaker batch without an entries array; ignored");
      return { accepted: 0, ignored: 1, transitions: 0 };
    }
    if (!this.running) {
      this.ignoredEntries += entries.length;
      return { accepted: 0, ignored: entries.length, transitions: 0 };
    }
    const byPool = new Map<string, OutcomeCounts[]>();
    let ignored = 0;
    // Entries come in runs of one pool (a recorder drains pool by pool): the pool and its list
    // are looked up once per run, not per entry. Whether the member is one of the pool's is
    // the decider's to check (ingest's `known`): a member with traffic in its window is found
    // by the one lookup of its state, not by a set probe first.
    let runPool: string | null = null;
    let p: PoolDecider | undefined;
    let list: OutcomeCounts[] | undefined;
    for (const e of entries) {
      if (!validEntry(e)) {
        ignored++;
        continue;
      }
      if (runPool === null || e.pool !== runPool) {
        runPool = e.pool;
        p = this.pools.get(e.pool);
        list = undefined;
      }
      if (p === undefined) {
        ignored++;
        continue;
      }
      if (list === undefined) {
        list = byPool.get(e.pool);
        if (list === undefined) {
          list = [];
          byPool.set(e.pool, list);
        }
      }
      list.push(e);
    }
    const now = this.clock.now();
    let transitions = 0;
    let accepted = 0;
    for (const [pool, list] of byPool) {
      const p = this.pools.get(pool) as PoolDecider;
      const out = p.decider.ingest({ entries: list }, now, p.members);
      const skipped = p.decider.lastIngestIgnored;
      ignored += skipped;
      accepted += list.length - skipped;
      transitions += out.length;
      this.take(p, out, now);
    }
    if (ignored > 0) {
      this.ignoredEntries += ignored;
      this.log.debug(
        { from, ignored },
        "breaker batch entries for unknown pools/members or malformed; ignored",
      );
    }
    if (transitions > 0) this.flush();
    return { accepted, ignored, transitions };
  }

  /**
   * Operator override: "open" and "closed" pin the breaker, "auto" hands it back to the rules
   * (starting closed). Resolves once the resulting state is committed; rejects with a
   * ControllerError (unknown pool/member, breaker disabled, not running) or the proposal's error
   * (the wanted state stays queued and is retried on the next tick).
   */
  force(pool: string, member: string, mode: BreakerOverride): Promise<void> {
    if (!this.running)
      return Promise.reject(
        new ControllerError("HEALTH_NOT_RUNNING", "breaker controller is not running (not leader)"),
      );
    if (mode !== "open" && mode !== "closed" && mode !== "auto") {
      return Promise.reject(
        new ControllerError(
          "HEALTH_INVALID_CONTROLLER_OPTIONS",
          `breaker state must be "open", "closed" or "auto", got ${JSON.stringify(mode)}`,
        ),
      );
    }
    const committed = this.getState().pools[pool];
    if (committed === undefined)
      return Promise.reject(new ControllerError("HEALTH_UNKNOWN_POOL", `unknown pool "${pool}"`));
    if (!committed.members.some((m) => m.id === member))
      return Promise.reject(
        new ControllerError("HEALTH_UNKNOWN_MEMBER", `pool "${pool}" has no member "${member}"`),
      );
    const p = this.pools.get(pool);
    if (p === undefined) {
      return Promise.reject(
        new ControllerError(
          "HEALTH_BREAKER_DISABLED",
          `pool "${pool}" has its breaker disabled (breaker.enabled: false)`,
        ),
      );
    }
    const now = this.clock.now();
    const out = p.decider.override(pool, member, mode, now);
    for (const t of out) this.emitTransition(t);
    p.members.add(member);
    const promise = new Promise<void>((resolve, reject) => {
      this.want(pool, member, this.expected(p.decider.view(pool, member)), { resolve, reject }, now, p);
    });
    this.flush();
    return promise;
  }

  /** The decider's view of one member (closed with empty counters if unknown). */
  view(pool: string, member: string): BreakerView | undefined {
    return this.pools.get(pool)?.decider.view(pool, member);
  }

  status(): BreakerControllerStatus {
    return {
      running: this.running,
      pending: this.wanted.size,
      inFlight: this.inFlight.size,
      proposals: this.proposals + this.inFlight.size,
      failedProposals: this.failedProposals,
      lastProposalError: this.lastError,
      batches: this.batches,
      ignoredEntries: this.ignoredEntries,
    };
  }

  private schedule(): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.running) return;
      this.tick();
      this.schedule();
    }, this.tickMs);
  }

  private tick(): void {
    const now = this.clock.now();
    for (const p of this.pools.values()) this.take(p, p.decider.tick(now), now);
    this.flush();
  }

  private emitTransition(t: BreakerTransition): void {
    this.log.info(
      { pool: t.pool, member: t.member, from: t.from, to: t.to, reason: t.reason },
      "breaker transition",
    );
    try {
      this.onTransition?.(t);
    } catch (err) {
      this.log.warn({ err: errorText(err) }, "onTransition callback threw");
    }
  }

  private take(p: PoolDecider, out: readonly BreakerTransition[], now: number): void {
    for (const t of out) {
      this.emitTransition(t);
      this.want(t.pool, t.member, this.expected(p.decider.view(t.pool, t.member)), undefined, now, p);
    }
  }

  /** Records the wanted committed state of a member; the newest wins. */
  private want(
    pool: string,
    member: string,
    e: Expected,
    waiter: Wanted["waiters"][number] | undefined,
    now = this.clock.now(),
    p?: PoolDecider,
  ): void {
    const k = memberKey(pool, member);
    const since = this.clock.wallNow();
    let until = e.until;
    if (e.state === "open" && until !== FORCED_OPEN_UNTIL) {
      // The decider's until is on the leader's monotonic clock; commands carry wall time.
      const v = p?.decider.view(pool, member);
      until = v?.until != null ? since + Math.max(0, v.until - now) : since;
    }
    const prev = this.wanted.get(k);
    const waiters = prev?.waiters ?? [];
    if (waiter !== undefined) waiters.push(waiter);
    this.wanted.set(k, {
      pool,
      member,
      state: e.state,
      since,
      until,
      trips: e.trips,
      override: e.override,
      waiters,
    });
  }

  private dropWanted(pool: string, member: string | undefined): void {
    for (const [k, w] of this.wanted) {
      if (w.pool !== pool || (member !== undefined && w.member !== member)) continue;
      this.wanted.delete(k);
      // The member left: an override for it has nothing left to wait for.
      for (const x of w.waiters) x.resolve();
    }
  }

  /** Proposes every wanted state that is not committed yet and not already in flight. */
  private flush(): void {
    if (!this.running || this.wanted.size === 0) return;
    const state = this.getState();
    for (const [k, w] of this.wanted) {
      if (this.inFlight.has(k)) continue;
      const m = state.pools[w.pool]?.members.find((x) => x.id === w.member);
      if (m === undefined || sameCommitted(m, w)) {
        this.wanted.delete(k);
        for (const x of w.waiters) x.resolve();
        continue;
      }
      void this.send(k, w);
    }
  }

  private async send(k: string, w: Wanted): Promise<void> {
    // Retries come from the tick (flush), so the cycle's own timer is never armed.
    const cycle = new ProposalCycle(this.clock, () => {});
    this.inFlight.set(k, cycle);
    const ok = await cycle.propose(this.propose, {
      v: 1,
      type: "SetBreaker",
      pool: w.pool,
      member: w.member,
      state: w.state,
      since: w.since,
      until: w.state === "open" ? w.until : 0,
      trips: w.trips,
      override: w.override,
    });
    if (cycle.closed) return;
    this.inFlight.delete(k);
    this.proposals += cycle.proposals;
    this.failedProposals += cycle.failedProposals;
    if (ok) {
      if (this.wanted.get(k) === w) {
        this.wanted.delete(k);
        for (const x of w.waiters) x.resolve();
      } else {
        // A newer wanted state arrived while this one was in flight: send it now.
        this.flush();
      }
      return;
    }
    this.lastError = cycle.lastError;
    this.log.warn(
      { pool: w.pool, member: w.member, state: w.state, err: this.lastError },
      "breaker proposal failed; retrying on the next tick",
    );
    const cur = this.wanted.get(k);
    if (cur !== undefined) {
      const waiters = cur.waiters;
      cur.waiters = [];
      const e = cycle.lastFailure instanceof Error ? cycle.lastFailure : new Error(String(cycle.lastFailure));
      for (const x of waiters) x.reject(e);
    }
  }
}
