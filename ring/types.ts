// The contract every hashing table in ring/ implements, and that proxy/ and config/
// program against. Tables are immutable once built: membership changes build a new
// table and the caller swaps the reference.

/** A pool member as the ring sees it: a stable id (never an address) and an integer weight >= 1. */
export interface RingMember {
  readonly id: string;
  readonly weight: number;
}

/**
 * Decides, for one candidate member index, whether a request may go there.
 * Called in successor order; the first index accepted wins.
 */
export type AcceptMember = (memberIndex: number) => boolean;

export interface HashTable {
  /** "ring" | "maglev" (or a wrapper's name). */
  readonly algorithm: string;
  /** Members sorted by id; every index below refers to this array. */
  readonly members: readonly RingMember[];
  /** Owner of a 32-bit key hash as an index into `members`, or -1 when there are no members. */
  lookup(hash: number): number;
  /**
   * The first member, walking distinct members in ring order from the owner of `hash`,
   * that `accept` takes; -1 if none does. Allocation-free: this is the request path.
   */
  pick(hash: number, accept: AcceptMember): number;
  /** Distinct member indices in ring order starting at the owner of `hash`; each exactly once. */
  successors(hash: number): IterableIterator<number>;
}
