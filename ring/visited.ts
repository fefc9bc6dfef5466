// An allocation-free "seen" set over member indices for pick(): an epoch-stamped array, so
// clearing is one increment instead of a fill. If accept() re-enters pick() on the same
// table, the inner call gets a fresh private marker rather than corrupting the outer walk.

export interface VisitedMarker {
  mark(index: number): void;
  marked(index: number): boolean;
}

class EpochMarker implements VisitedMarker {
  private readonly stamps: Uint32Array;
  epoch = 0;
  constructor(size: number) {
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

export class VisitedSet {
  private readonly shared: EpochMarker;
  private readonly size: number;
  private busy = false;

  constructor(size: number) {
    this.size = size;
    this.shared = new EpochMarker(size);
  }

  /** A cleared marker; pass it back to end() when the walk finishes. */
  begin(): VisitedMarker {
    if (this.busy) {
      const own = new EpochMarker(this.size);
      own.next();
      return own;
    }
    this.busy = true;
    this.shared.next();
    return this.shared;
  }

  end(marker: VisitedMarker): void {
    if (marker === this.shared) this.busy = false;
  }
}
