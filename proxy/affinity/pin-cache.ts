// This instance's short-lived copy of store pins: key -> member, trusted for `ttlMs`, at most
// `maxEntries` (the oldest written is dropped first). It keeps Redis off most requests; how
// long instances can disagree because of it is bounded by ttlMs (README, "Affinity").

import { retainedKey } from "./retained-key.js";

interface Pin {
  member: string;
  until: number;
}

export class PinCache {
  private readonly pins = new Map<string, Pin>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  /** The member pinned for `key` if this copy is still trusted at `now`, else undefined. */
  get(key: string, now: number): string | undefined {
    const p = this.pins.get(key);
    if (p === undefined) return undefined;
    if (p.until > now) return p.member;
    this.pins.delete(key);
    return undefined;
  }

  set(key: string, member: string, now: number): void {
    if (this.ttlMs <= 0) return;
    const p = this.pins.get(key);
    if (p !== undefined) {
      // Re-insert so the Map's order stays "oldest written first".
      this.pins.delete(key);
      p.member = member;
      p.until = now + this.ttlMs;
      this.pins.set(retainedKey(key), p);
      return;
    }
    if (this.pins.size >= this.maxEntries) {
      const oldest = this.pins.keys().next().value;
      if (oldest !== undefined) this.pins.delete(oldest);
    }
    // Its own copy: a key sliced from a request would keep the request's header alive.
    this.pins.set(retainedKey(key), { member, until: now + this.ttlMs });
  }

  delete(key: string): void {
    this.pins.delete(key);
  }

  get size(): number {
    return this.pins.size;
  }
}
