// A pool snapshot's member id -> table index (PoolSnapshot.byId) after members joined or
// left, without a Map of the whole pool per reload. A join or leave shifts the index of every
// member after it in id order, so a Map built afresh (450 KiB of garbage per reload at 5,000
// members) held mostly the same ids at moved indices. Here the Map of an earlier snapshot (the
// base) stays as it was and an index array (an ArrayBuffer, off the JS heap) says where each
// base member is now (-1: gone); members the base does not hold are in a small Map of their
// own. A lookup is the base Map's get and an array read; an id not in the pool misses both
// Maps. Built by pool-snapshot.ts, off the request path; read by affinity per request.
// It keeps the ids (strings the member objects share), not the member objects: a snapshot with
// the same table passes its index on, and an index holding the objects of the snapshot it was
// built from kept every member's old object (and address) alive after a drain or an address
// change, for as long as the table stayed the same.

/** Rebuild a plain Map once this many members (beyond 64) are held outside the base. */
const EXTRA_SHARE = 16;

export class IdIndex implements ReadonlyMap<string, number> {
  private constructor(
    /** Ids in table order: member i's id is ids[i]. */
    private readonly ids: readonly string[],
    private readonly base: ReadonlyMap<string, number>,
    /** Base index -> current index, -1 when that member left. */
    private readonly moved: Int32Array,
    /** Current members the base does not place (joined since it was built). */
    private readonly extra: ReadonlyMap<string, number>,
  ) {}

  /**
   * The index of `members` (table order) given the previous snapshot's index `prev` and where
   * each of its members is now (`now[j]`: the new index of prev's member j, -1 gone); null when
   * a plain Map is due (too many members outside the base, or more gone than present).
   * `joined`: indices in `members` of members prev did not hold.
   */
  static after(
    members: readonly { readonly id: string }[],
    prev: ReadonlyMap<string, number>,
    now: Int32Array,
    joined: readonly number[],
  ): IdIndex | null {
    const base = prev instanceof IdIndex ? prev.base : prev;
    const carried = prev instanceof IdIndex ? prev.extra : null;
    if ((carried?.size ?? 0) + joined.length > 64 + members.length / EXTRA_SHARE) return null;
    if (base.size > 2 * members.length + 64) return null;
    const moved = new Int32Array(base.size);
    if (prev instanceof IdIndex) {
      for (let b = 0; b < moved.length; b++) {
        const d = prev.moved[b];
        moved[b] = d < 0 ? -1 : now[d];
      }
    } else moved.set(now);
    const extra = new Map<string, number>();
    carried?.forEach((d, id) => {
      if (now[d] >= 0) extra.set(id, now[d]);
    });
    for (let k = 0; k < joined.length; k++) extra.set(members[joined[k]].id, joined[k]);
    const ids: string[] = new Array(members.length);
    for (let i = 0; i < ids.length; i++) ids[i] = members[i].id;
    return new IdIndex(ids, base, moved, extra);
  }

  get size(): number {
    return this.ids.length;
  }

  get(id: string): number | undefined {
    const b = this.base.get(id);
    if (b !== undefined) {
      const i = this.moved[b];
      if (i >= 0) return i;
    }
    return this.extra.size === 0 ? undefined : this.extra.get(id);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  forEach(fn: (value: number, key: string, map: ReadonlyMap<string, number>) => void, self?: unknown): void {
    for (let i = 0; i < this.ids.length; i++) fn.call(self, i, this.ids[i], this);
  }

  *entries(): MapIterator<[string, number]> {
    for (let i = 0; i < this.ids.length; i++) yield [this.ids[i], i];
  }

  *keys(): MapIterator<string> {
    for (let i = 0; i < this.ids.length; i++) yield this.ids[i];
  }

  *values(): MapIterator<number> {
    for (let i = 0; i < this.ids.length; i++) yield i;
  }

  [Symbol.iterator](): MapIterator<[string, number]> {
    return this.entries();
  }
}
