// Epoch milliseconds for moments the caller has already read on the monotonic clock
// (performance.now()), without a Date.now() per call: the access line's time is the request's
// end, which the data plane read a moment before (one clock reading per request end, not two).
//
// performance.timeOrigin (the epoch time of monotonic 0, to the microsecond) plus a reading is
// the wall clock as long as nobody steps it; the wall clock is looked at again once per
// CHECK_MS of readings, and a step moves the origin so the next readings agree with it. A
// reading that does not look like this process's monotonic clock read just now (before the
// last look or a second or more after it, and at a look not within JUST_NOW_MS of the clock:
// a clock a test injected, a record built by hand, NaN) gets Date.now() itself, as every line
// did before.

/** How often (in monotonic ms of the readings given) the wall clock is looked at. */
export const CHECK_MS = 1000;
/** How far behind the monotonic clock a reading may be at a look and still be taken as one. */
const JUST_NOW_MS = 100;

export class WallClock {
  /** Epoch ms of monotonic 0 (timeOrigin, moved by any step of the wall clock seen since). */
  private origin: number;
  /** The monotonic reading at the last look at the wall clock; readings before it are foreign. */
  private lookedAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly wallNow: () => number = Date.now,
    private readonly monoNow: () => number = () => performance.now(),
    origin: number = performance.timeOrigin,
  ) {
    this.origin = origin;
  }

  /** Epoch ms (an integer, as Date.now()) of `monotonic`, a performance.now() reading taken just now. */
  at(monotonic: number): number {
    const since = monotonic - this.lookedAt;
    if (since >= 0 && since < CHECK_MS) return Math.floor(this.origin + monotonic);
    return this.look(monotonic);
  }

  private look(monotonic: number): number {
    const wall = this.wallNow();
    const mono = this.monoNow();
    // Date.now() is the wall clock floored: it was in [wall, wall + 1) at `mono`. An estimate
    // outside that (the clock was stepped, or drifted by a millisecond) is moved to its middle.
    const estimate = this.origin + mono;
    if (estimate < wall || estimate >= wall + 1) this.origin = wall + 0.5 - mono;
    const behind = mono - monotonic;
    // performance.now() is never 0 or less: -1 and 0 are "not set" (a hand-built record), never
    // a reading, even in a process's first JUST_NOW_MS, when they would look like one taken just now.
    if (!(monotonic > 0 && behind >= 0 && behind < JUST_NOW_MS)) return wall;
    this.lookedAt = mono;
    return Math.floor(this.origin + monotonic);
  }
}
