// Typed arrays of rings that are gone, kept for the next ring build instead of freed.
//
// A reload that adds one member to a 5,000-member pool builds a new ring: a 3.2 MB packed
// array and a 256 KiB bucket index. The ring it replaces cannot be written over at once:
// a request keeps the snapshot it started with across awaits (a retry walks the same
// successor order), so the old ring is read until the last such request ends. It is free
// once V8 finds it unreachable, which only a mark-compact does (rings live long enough to
// reach old space). Until now its arrays were then freed and the next reload calloc'd new
// ones: every reload left 3.5 MB of external memory that only a mark-compact returned, and
// the malloc heap went up and down by that much times the reloads between mark-compacts.
//
// Here a ring registers its arrays with a FinalizationRegistry keyed on the ring object:
// the arrays come back only after the ring itself was collected, so nothing can read them
// any more (a ring never hands its packed array or index out: successors() iterators keep
// the ring alive; points and owners are copies). The next build takes them instead of
// allocating. At most MAX_FREE arrays are kept, and none after IDLE_MS without a build, so a
// burst of reloads does not leave memory behind; a build never waits for one. Only as many
// rings are registered as arrays may be kept (see track).

/**
 * Arrays kept for reuse (and registered to come back) at most: two rings' packed entries and
 * indexes. Reuse saves the allocation, its zeroing and page faults; it does not lower the
 * peak (a ring dead since the last mark-compact is still pinned), so more would only raise the floor.
 */
const MAX_FREE = 4;
/** The kept arrays are dropped (left to the GC) this long after the last take or return. */
const IDLE_MS = 30_000;

/**
 * Capacity for a new array of `length`: a little slack, so that the ring one member larger
 * (a few hundred points more) still fits the same array on the next reload.
 */
export function capacityFor(length: number): number {
  return length + (length >>> 6) + 1024;
}

export class RecycledBuffers {
  private readonly free: Uint32Array[] = [];
  private readonly registry = new FinalizationRegistry<readonly Uint32Array[]>((arrays) => {
    this.pending -= arrays.length;
    for (const a of arrays) this.give(a);
  });
  /** Arrays registered and not yet come back: held by the registry, kept past their ring's death. */
  private pending = 0;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  /** Takes served from a kept array (for tests and diagnostics). */
  reused = 0;

  constructor(
    private readonly maxFree = MAX_FREE,
    private readonly idleMs = IDLE_MS,
  ) {}

  /**
   * A Uint32Array of exactly `length` elements with unspecified contents (a caller writes
   * every element), a view on a kept array when one fits, else on a new one with slack.
   */
  take(length: number): Uint32Array {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const cap = this.free[i].length;
      // Fits without wasting more than the slack a new array would have had, twice over.
      if (
        cap >= length &&
        cap <= capacityFor(capacityFor(length)) &&
        (best < 0 || cap < this.free[best].length)
      )
        best = i;
    }
    if (best < 0) return new Uint32Array(capacityFor(length)).subarray(0, length);
    const whole = this.free[best];
    this.free[best] = this.free[this.free.length - 1];
    this.free.pop();
    this.reused++;
    this.touch();
    return whole.subarray(0, length);
  }

  /**
   * Registers the arrays `owner` reads (views from take, or any Uint32Array): their memory
   * comes back for reuse once `owner` has been garbage-collected. The arrays must be
   * reachable only through `owner` (and the registration), never handed out by it.
   */
  track(owner: object, arrays: readonly Uint32Array[]): void {
    // The registry holds what it will hand back, so a registered array outlives its ring by
    // the time to the finalizer: register only what may be kept, and let the rest go with
    // their rings at the same mark-compact (registering every ring doubled the dead arrays).
    if (this.pending + this.free.length + arrays.length > this.maxFree) return;
    this.pending += arrays.length;
    this.registry.register(owner, arrays.map(whole));
  }

  /** Returns an array nobody references any more (an aborted build's) for reuse now. */
  give(array: Uint32Array): void {
    if (this.free.length >= this.maxFree) return;
    this.free.push(whole(array));
    this.touch();
  }

  /** Removes and returns every kept array (tests, and letting the GC have them). */
  drain(): Uint32Array[] {
    return this.free.splice(0);
  }

  /** How many arrays are kept now. */
  get kept(): number {
    return this.free.length;
  }

  private touch(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      this.free.length = 0;
    }, this.idleMs);
    this.idleTimer.unref();
  }
}

/** The whole Uint32Array a view was cut from (views from take start at offset 0). */
function whole(a: Uint32Array): Uint32Array {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength
    ? a
    : new Uint32Array(a.buffer, 0, a.buffer.byteLength >>> 2);
}

/** The process's kept ring arrays (every ring hash shares them). */
export const ringBuffers = new RecycledBuffers();
