// An allocation-free "seen" set over member indices for pick(): an epoch-stamped array, so
// clearing is one increment instead of a fill. If accept() re-enters pick() (on any table),
// the inner call gets a fresh private marker rather than corrupting the outer walk.

export interface VisitedMarker {
  mark(index: number): void;
  marked(index: number): boolean;
}

class EpochMarker implements VisitedMarker {
  private readonly stamps: Uint32Array;
  epoch = 0;
  constructor(readonly size: number) {
    this.stamps = new Uint32Array(size);
  }
  next(): void {
    this.epoch++;
    if (this.epoch === 0xffffffff) {
      this.stamps.fill(0);
      this.epoch = 1;
    }
  }
  mark(index: number): void {
    this.stamps[index] = this.epoch;
  }
  marked(index: number): boolean {
    return this.stamps[index] === this.epoch;
  }
}

/**
 * One marker for every table of the process (a walk is synchronous, so only a re-entered one
 * needs another), grown to the largest table: a marker per table was an array of its member
 * count allocated with every table, 20 KiB per reload of a 5,000-member pool.
 */
let sharedMarker = new EpochMarker(0);
let sharedBusy = false;

export class VisitedSet {
  private readonly size: number;

  constructor(size: number) {
    this.size = size;
  }

  /** A cleared marker; pass it back to end() when the walk finishes. */
  begin(): VisitedMarker {
    if (sharedBusy) {
      const own = new EpochMarker(this.size);
      own.next();
      return own;
    }
    if (sharedMarker.size < this.size) sharedMarker = new EpochMarker(this.size);
    sharedBusy = true;
    sharedMarker.next();
    return sharedMarker;
  }

  end(marker: VisitedMarker): void {
    if (marker === sharedMarker) sharedBusy = false;
  }
}
