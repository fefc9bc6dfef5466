// Member choice: the owner of the key's hash in the pool's snapshot, else the next distinct
// member in successor order that may take the request (eligible per the replicated flags,
// not refusing connections locally, not already tried by this request); a half-open member
// is taken only if the pool's ProbeGate admits a probe to it. With a
// balanceFactor, the bounded-load decorator also caps members at factor x the mean load.
//
// The request path calls chooseMember, which takes the key's owner at once when it may serve
// and is otherwise allocation-free too: the acceptor below is one
// module-level object whose fields are set per call and whose `accept` is bound once
// (pick is synchronous, and the acceptor saves/restores its fields around a nested call).
// explainChoice is the admin variant that also lists who was skipped and why.

import type { AcceptMember } from "../../ring/types.js";
import type {
  NotOwnerReason,
  PoolLiveView,
  PoolSnapshot,
  ProbeGate,
  RouteExplanation,
  SkippedMember,
  SkipReason,
} from "./types.js";

/**
 * Member indices this request has already tried: `first`, then `rest[0 .. count-2]`. Split
 * so that a request that never retries allocates no array.
 */
export interface TriedSet {
  readonly count: number;
  readonly first: number;
  readonly rest: Int32Array | null;
}

const NO_TRIED: TriedSet = { count: 0, first: -1, rest: null };

function wasTried(t: TriedSet, index: number): boolean {
  if (t.count === 0) return false;
  if (t.first === index) return true;
  const rest = t.rest;
  if (rest === null) return false;
  for (let i = 0; i < t.count - 1; i++) if (rest[i] === index) return true;
  return false;
}
const NO_SKIPS = new Float64Array(0);

class Acceptor {
  eligible: Uint8Array = new Uint8Array(0);
  skipUntil: Float64Array = NO_SKIPS;
  now = 0;
  tried: TriedSet = NO_TRIED;
  probe: ProbeGate | null = null;
  /** The first member index offered to `accept` in the current pick: the key's owner (see ownerOfLastChoice). */
  firstAsked = -1;
  readonly accept: AcceptMember;
  constructor() {
    this.accept = this.test.bind(this);
  }
  private test(index: number): boolean {
    if (this.firstAsked < 0) this.firstAsked = index;
    const e = this.eligible[index];
    if (e === 0) return false;
    if (index < this.skipUntil.length && this.skipUntil[index] > this.now) return false;
    if (wasTried(this.tried, index)) return false;
    // Half-open: asked last, so a probe slot is spent only on a member about to be chosen.
    if (e === 2) return this.probe?.admit(index) === true;
    return e === 1;
  }
}

const acceptor = new Acceptor();
/** The owner the last top-level unbounded chooseMember walked from, or -1 (see ownerOfLastChoice). */
let lastOwner = -1;
/** firstAsked of the outermost choose() that returned last. */
let lastFirstAsked = -1;

/**
 * The key's owner as seen by the last chooseMember call on a table without bounded load, or
 * -1 when that call cannot tell (bounded load may pass the owner over without asking
 * `accept`; an empty table). A table's pick walks successors from lookup(hash), so the first
 * member it offers is the owner: the request path learns "served by the owner" without a
 * second table lookup per request. Valid until the next chooseMember call.
 */
export function ownerOfLastChoice(): number {
  return lastOwner;
}

/**
 * The member index a request with `keyHash` goes to now, or -1 when no member may take it.
 * `live` carries in-flight counts and local skips (null: ignore both); `now` is the
 * monotonic clock the skip deadlines use; `tried` excludes members this request already tried.
 */
export function chooseMember(
  snapshot: PoolSnapshot,
  keyHash: number,
  live: PoolLiveView | null,
  now: number,
  tried: TriedSet = NO_TRIED,
): number {
  // The usual request: nothing tried yet, no bounded load, and the key's owner may take it
  // (eligible, not refused locally). That is pick()'s first answer, found with one lookup
  // and none of the walk's set-up (the acceptor's fields saved and restored, a call per member).
  // With the snapshot's live view, both conditions are one read of passUntil.
  if (tried.count === 0 && snapshot.bounded === null) {
    const owner = snapshot.table.lookup(keyHash);
    if (
      owner >= 0 &&
      (live !== null && live.snapshot === snapshot
        ? !(live.passUntil[owner] > now)
        : snapshot.eligible[owner] === 1)
    ) {
      lastOwner = owner;
      return owner;
    }
  }
  const chosen = choose(snapshot, keyHash, live, now, tried, snapshot.probe);
  lastOwner = snapshot.bounded === null ? lastFirstAsked : -1;
  return chosen;
}

function choose(
  snapshot: PoolSnapshot,
  keyHash: number,
  live: PoolLiveView | null,
  now: number,
  tried: TriedSet,
  probe: ProbeGate | null,
): number {
  const a = acceptor;
  const savedEligible = a.eligible;
  const savedSkips = a.skipUntil;
  const savedNow = a.now;
  const savedTried = a.tried;
  const savedProbe = a.probe;
  const savedFirst = a.firstAsked;
  a.firstAsked = -1;
  a.eligible = snapshot.eligible;
  a.skipUntil = live !== null && live.snapshot === snapshot ? live.skipUntil : NO_SKIPS;
  a.now = now;
  a.tried = tried;
  a.probe = probe;
  try {
    const bounded = snapshot.bounded;
    if (bounded !== null && live !== null && live.snapshot === snapshot) {
      return bounded.pickBounded(keyHash, a.accept, live.inFlight, live.totalInFlight);
    }
    return snapshot.table.pick(keyHash, a.accept);
  } finally {
    a.eligible = savedEligible;
    a.skipUntil = savedSkips;
    a.now = savedNow;
    a.tried = savedTried;
    a.probe = savedProbe;
    // Finally blocks run innermost first, so the outermost call's owner is what stays.
    lastFirstAsked = a.firstAsked;
    a.firstAsked = savedFirst;
  }
}

/** Why `index` would be passed over, or null if it may take the request (ignoring load). */
export function skipReasonOf(
  snapshot: PoolSnapshot,
  index: number,
  live: PoolLiveView | null,
  now: number,
  tried: TriedSet = NO_TRIED,
): SkipReason | null {
  const m = snapshot.members[index];
  if (!m.healthy) return "unhealthy";
  if (m.draining) return "draining";
  if (m.breakerOpen) return "breaker_open";
  if (m.breakerHalfOpen) return "breaker_half_open";
  if (live !== null && live.snapshot === snapshot && live.skipUntil[index] > now) return "refused_locally";
  if (wasTried(tried, index)) return "tried";
  return null;
}

/** Whether `index` may take a new request now: eligible (healthy, not draining, breaker closed), not refused locally. */
export function isRoutable(
  snapshot: PoolSnapshot,
  index: number,
  live: PoolLiveView | null,
  now: number,
): boolean {
  if (snapshot.eligible[index] !== 1) return false;
  return !(live !== null && live.snapshot === snapshot && live.skipUntil[index] > now);
}

/**
 * Why the first attempt went to `index` rather than the owner of `keyHash`, or null when it
 * went to the owner. `byAffinity`: an affinity chose `index`.
 */
export function notOwnerReason(
  snapshot: PoolSnapshot,
  keyHash: number,
  index: number,
  byAffinity: boolean,
  live: PoolLiveView | null,
  now: number,
): NotOwnerReason | null {
  const owner = snapshot.table.lookup(keyHash);
  if (owner === index || owner < 0) return null;
  if (byAffinity) return "affinity";
  switch (skipReasonOf(snapshot, owner, live, now)) {
    case "draining":
      return "drain";
    case "breaker_open":
    case "breaker_half_open":
      return "breaker";
    case "unhealthy":
    case "refused_locally":
      return "health";
    default:
      return "bounded_load";
  }
}

/**
 * chooseMember plus the reasons: every member walked over (in successor order from the
 * owner) before the chosen one. Allocates; for the admin API and tests, not requests.
 */
export function explainChoice(
  snapshot: PoolSnapshot,
  keyHash: number,
  live: PoolLiveView | null,
  now: number,
): RouteExplanation {
  // Peeking at probe admission: explaining a route must not spend a half-open member's
  // probes, but must name the half-open member a request would reach while it has a free slot.
  const gate = snapshot.probe;
  const peek: ProbeGate | null =
    gate === null
      ? null
      : { admit: (i) => gate.available(i), release() {}, available: (i) => gate.available(i) };
  const index = choose(snapshot, keyHash, live, now, NO_TRIED, peek);
  const ownerIndex = snapshot.table.lookup(keyHash);
  const skipped: SkippedMember[] = [];
  for (const i of snapshot.table.successors(keyHash)) {
    if (i === index) break;
    skipped.push({
      id: snapshot.members[i].id,
      reason: skipReasonOf(snapshot, i, live, now) ?? "over_load_cap",
    });
  }
  return {
    pool: snapshot.name,
    keyHash,
    owner: ownerIndex < 0 ? null : snapshot.members[ownerIndex].id,
    member: index < 0 ? null : snapshot.members[index].id,
    skipped,
    ringVersion: snapshot.ringVersion,
  };
}
