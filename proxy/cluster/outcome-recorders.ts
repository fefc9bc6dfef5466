// Request outcomes for the fleet's circuit breakers, on this instance: one OutcomeRecorder
// per pool with one slot per member. The request path finds the recorder slot through the
// member's pool slot (PoolSnapshot.slots, on the request record): an array index, checked
// against the member id bound there, instead of a Map of every member id (which at 10,000
// members missed the caches on every request); an index and an increment after that. Every ~100 ms the cluster node drains the batch (only
// the members with activity are visited) and delivers it to the leader's breaker controller.
// Also the per-instance probe budget of half-open members.
//
// One recorder per pool, not per member: a few typed arrays per pool instead of nine per
// member keeps the heap small and flat at thousands of members (per-member recorders made
// every young-generation GC pay for the pool's size, measured in bench/scale-bench.ts).
//
// When a member's committed breaker state changes, its slot is cleared: counts from before
// the decision must not reach the leader after it. In particular a failure run this instance
// carried across the opening (it stopped routing to the member, so no success ended the run)
// would otherwise be reported again as maxConsecutive with the first success after the
// breaker closed, and re-trip it. The cleared slot also starts with a full probe budget.

import type { ClusterStateData, MemberState } from "../../config/state/types.js";
import {
  type OutcomeBatch,
  type OutcomeCounts,
  OutcomeRecorder,
  type UpstreamErrorKind,
} from "../../health/outcome-recorder.js";
import { hashKey } from "../../ring/hash.js";
import type { PoolSnapshot, ProbeGate } from "../routing/types.js";

/**
 * With `workers: N` (proxy/workers/probe-share.ts): this process's part of a half-open
 * member's probe budget, so the parts of all workers add up to the pool's halfOpenProbes.
 * `memberKey` is a hash of the member id (the same in every worker).
 */
export interface ProbeBudgetShare {
  of(limit: number, memberKey: number): number;
}

interface PoolOutcomes {
  readonly statusesKey: string;
  readonly recorder: OutcomeRecorder;
  /** member id -> recorder slot (a number per member, no object). */
  readonly members: Map<string, number>;
  /**
   * By member (pool) slot, bound on first use, two entries side by side: the id of the member
   * bound to it (NO_ID unbound) and that member's recorder slot. A request reads one cache
   * line of it, where an index array and then the recorder's array of ids were two, each a
   * miss at 1,000 members (bench/scale-slot-micro.ts). A pool slot passes to a joiner after
   * a leave: the id check sees it. A binding goes when its member's recorder slot is released
   * (or the member is bound under another pool slot), so a bound id always has its current
   * recorder slot beside it.
   */
  bound: Array<string | number>;
  /** Recorder slot -> the pool slot its member is bound under, -1 none (to unbind it). */
  boundAt: Int32Array;
  /** Committed breaker state each slot was last cleared under, by slot. */
  readonly breakerBySlot: string[];
  probeLimit: number;
  /** The committed member list last synced (unchanged members keep their identity). */
  synced: readonly MemberState[];
}

class RecorderGate implements ProbeGate {
  constructor(
    private readonly pool: PoolOutcomes,
    /** Recorder slot per snapshot member index. */
    private readonly slots: Int32Array,
    private readonly share: ProbeBudgetShare | null,
    /** hashKey(member id) per snapshot member index (only with a share). */
    private readonly keys: Uint32Array,
  ) {}
  private limit(index: number): number {
    const limit = this.pool.probeLimit;
    return this.share === null ? limit : this.share.of(limit, this.keys[index]);
  }
  /** True when this gate maps `count` members onto `pool`'s current recorder. */
  reads(pool: PoolOutcomes, count: number): boolean {
    return this.pool === pool && this.slots.length === count;
  }
  admit(index: number): boolean {
    const slot = index >= 0 && index < this.slots.length ? this.slots[index] : -1;
    return slot >= 0 && this.pool.recorder.admitProbe(slot, this.limit(index));
  }
  // A release after the member's breaker state changed (its slot was cleared) lands on a
  // count that starts at 0 and never goes below it: at worst one extra probe in that phase.
  release(index: number): void {
    const slot = index >= 0 && index < this.slots.length ? this.slots[index] : -1;
    if (slot >= 0) this.pool.recorder.releaseProbe(slot);
  }
  available(index: number): boolean {
    const slot = index >= 0 && index < this.slots.length ? this.slots[index] : -1;
    return slot >= 0 && this.pool.recorder.probeAvailable(slot, this.limit(index));
  }
}

/** An unbound entry of PoolOutcomes.bound: a number, which no member id (a string) equals. */
const NO_ID = 0;

/** Forgets member `id` of pool `name`: its recorder slot (counts, reuse) and its binding. */
function releaseMember(p: PoolOutcomes, name: string, id: string): void {
  const slot = p.members.get(id);
  if (slot === undefined) return;
  p.members.delete(id);
  p.recorder.release(name, id);
  const at = slot < p.boundAt.length ? p.boundAt[slot] : -1;
  if (at < 0) return;
  p.boundAt[slot] = -1;
  if (p.bound[2 * at] === id) p.bound[2 * at] = NO_ID;
}

/** Binds pool slot `poolSlot` to `member`, whose recorder slot is `slot`. */
function bind(p: PoolOutcomes, poolSlot: number, member: string, slot: number): void {
  if (slot >= p.boundAt.length) {
    const grown = new Int32Array(Math.max(16, slot + 1, p.boundAt.length * 2)).fill(-1);
    grown.set(p.boundAt);
    p.boundAt = grown;
  }
  // The member's binding under another pool slot (a fresh build renumbered the pool) goes:
  // only one is unbound at release.
  const prev = p.boundAt[slot];
  if (prev >= 0 && prev !== poolSlot && p.bound[2 * prev] === member) p.bound[2 * prev] = NO_ID;
  const b = p.bound;
  while (b.length < 2 * poolSlot + 2) b.push(NO_ID, -1);
  b[2 * poolSlot] = member;
  b[2 * poolSlot + 1] = slot;
  p.boundAt[slot] = poolSlot;
}

/** Releases the members of `last` that are not in `now`; both sorted by id (else it finds fewer). */
function releaseLeft(
  p: PoolOutcomes,
  name: string,
  last: readonly MemberState[],
  now: readonly MemberState[],
): void {
  let j = 0;
  for (let i = 0; i < last.length; i++) {
    const id = last[i].id;
    while (j < now.length && now[j].id < id) j++;
    if (j < now.length && now[j].id === id) continue;
    releaseMember(p, name, id);
  }
}

/** Pool slots at or above this are not cached (the Map serves them). */
const MAX_POOL_SLOT = 1 << 21;

export class OutcomeRecorders {
  private readonly pools = new Map<string, PoolOutcomes>();
  /**
   * The pool the request path last found by name (poolOf), and that name: a process with one
   * pool never looks up by name per request. Forgotten at every sync (a pool may go or be replaced).
   */
  private lastName = "";
  private lastPool: PoolOutcomes | undefined = undefined;

  /** `share`: this worker's part of each probe budget (null: one process, the whole budget). */
  constructor(private readonly share: ProbeBudgetShare | null = null) {}

  /** Follows the committed pools and members (call after every applied change, before routing is rebuilt). */
  sync(data: ClusterStateData): void {
    this.lastPool = undefined;
    for (const name of [...this.pools.keys()]) if (!(name in data.pools)) this.pools.delete(name);
    for (const [name, pool] of Object.entries(data.pools)) {
      const statuses = pool.settings.breaker.failureStatuses;
      const key = statuses.join(",");
      let p = this.pools.get(name);
      if (p === undefined || p.statusesKey !== key) {
        p = {
          statusesKey: key,
          recorder: new OutcomeRecorder({ failureStatuses: [...statuses] }),
          members: new Map(),
          bound: [],
          boundAt: new Int32Array(0),
          breakerBySlot: [],
          probeLimit: 0,
          synced: [],
        };
        this.pools.set(name, p);
      }
      p.probeLimit = pool.settings.breaker.halfOpenProbes;
      // Slots released by the previous sync are free now: no snapshot built before it is current.
      p.recorder.reclaim();
      const last = p.synced;
      p.synced = pool.members;
      // Same length with most members unchanged (a drain, a health flip): only the members
      // whose committed object changed need a look.
      const aligned = last.length === pool.members.length;
      for (let i = 0; i < pool.members.length; i++) {
        const m = pool.members[i];
        if (aligned && last[i] === m) continue;
        const cur = p.members.get(m.id);
        if (cur === undefined) {
          const slot = p.recorder.slot(name, m.id);
          p.members.set(m.id, slot);
          p.breakerBySlot[slot] = m.breaker.state;
        } else if (p.breakerBySlot[cur] !== m.breaker.state) {
          p.recorder.resetSlot(cur);
          p.breakerBySlot[cur] = m.breaker.state;
        }
      }
      // Members that left: both lists are in id order (the state keeps them so), so a merge walk
      // finds them without a Set of the whole pool (160 KiB per leave at 5,000 members).
      if (p.members.size !== pool.members.length) releaseLeft(p, name, last, pool.members);
      if (p.members.size !== pool.members.length) {
        const present = new Set<string>();
        for (const m of pool.members) present.add(m.id);
        for (const id of [...p.members.keys()]) if (!present.has(id)) releaseMember(p, name, id);
      }
    }
  }

  /**
   * The probe gate of a freshly built snapshot (members in table order). `previous` (the gate
   * of a snapshot with the same members at the same indices) is returned again while it still
   * reads this pool's recorder: member slots never move while a member stays.
   */
  gateFor(snapshot: PoolSnapshot, previous: ProbeGate | null = null): ProbeGate | null {
    const p = this.pools.get(snapshot.name);
    if (p === undefined) return null;
    if (previous instanceof RecorderGate && previous.reads(p, snapshot.members.length)) return previous;
    const slots = new Int32Array(snapshot.members.length);
    const keys = new Uint32Array(this.share === null ? 0 : snapshot.members.length);
    // Indexed: a for-of (run once per snapshot, not optimised) allocated an iterator result per member.
    for (let i = 0; i < snapshot.members.length; i++) {
      const m = snapshot.members[i];
      let slot = p.members.get(m.id);
      if (slot === undefined) {
        slot = p.recorder.slot(snapshot.name, m.id);
        p.members.set(m.id, slot);
        p.breakerBySlot[slot] = "closed";
      }
      slots[m.index] = slot;
      if (this.share !== null) keys[m.index] = hashKey(m.id) >>> 0;
    }
    return new RecorderGate(p, slots, this.share, keys);
  }

  /**
   * The recorder slot of `member`, whose pool slot is `poolSlot` (-1: unknown), or -1 when
   * the pool has no such member. The same answer as `p.members.get(member)`.
   */
  private slotOf(p: PoolOutcomes, member: string, poolSlot: number): number {
    const b = p.bound;
    const at = 2 * poolSlot;
    if (poolSlot >= 0 && at < b.length && b[at] === member) return b[at + 1] as number;
    const slot = p.members.get(member);
    if (slot === undefined) return -1;
    if (poolSlot >= 0 && poolSlot < MAX_POOL_SLOT) bind(p, poolSlot, member, slot);
    return slot;
  }

  /** The pool named `name` (request path): the last one found, while the name is the same. */
  private poolOf(name: string): PoolOutcomes | undefined {
    const last = this.lastPool;
    if (last !== undefined && name === this.lastName) return last;
    const p = this.pools.get(name);
    if (p !== undefined) {
      this.lastName = name;
      this.lastPool = p;
    }
    return p;
  }

  /** A finished response from `member` (request path); `poolSlot` its slot (PoolSnapshot.slots) or -1. */
  recordStatus(pool: string, member: string, status: number, poolSlot = -1): void {
    const p = this.poolOf(pool);
    if (p === undefined) return;
    const slot = this.slotOf(p, member, poolSlot);
    if (slot >= 0) p.recorder.recordStatus(slot, status);
  }

  /** A failed attempt (request path); `poolSlot` as for recordStatus. */
  recordError(pool: string, member: string, kind: UpstreamErrorKind, poolSlot = -1): void {
    const p = this.poolOf(pool);
    if (p === undefined) return;
    const slot = this.slotOf(p, member, poolSlot);
    if (slot < 0) return;
    // connect/reset/timeout keep their breakdown; any other kind (an upstream 5xx that was retried) is a plain failure.
    if (kind === "connect" || kind === "reset" || kind === "timeout") p.recorder.recordError(slot, kind);
    else p.recorder.recordFailure(slot);
  }

  /** Everything recorded since the last drain, all pools. */
  drain(): OutcomeBatch {
    let entries: OutcomeCounts[] = [];
    for (const p of this.pools.values()) {
      const b = p.recorder.drain();
      if (b.entries.length === 0) continue;
      entries = entries.length === 0 ? (b.entries as OutcomeCounts[]) : entries.concat(b.entries);
    }
    return { entries };
  }

  /** Members tracked in `pool` ((tests: the recorders follow membership without growing)). */
  trackedMembers(pool: string): number {
    return this.pools.get(pool)?.recorder.size ?? 0;
  }
}
