// Scratch arrays for table builds: arrays a build fills, reads and drops before it returns
// (change maps, histograms, Maglev's per-member walk state), kept between builds instead of
// allocated per build. At 5,000 members a one-member reload allocated them afresh each time
// (a 256 KiB histogram for the ring, 80 KiB for Maglev): ArrayBuffers freed only when a GC
// happened to run. Each use site owns its own scratch; builds are synchronous and never run
// inside one another, and a scratch view never leaves the function that took it.

type Typed = Int32Array | Uint32Array | Float64Array;

class Scratch<T extends Typed> {
  private array: T;
  constructor(private readonly make: (length: number) => T) {
    this.array = make(0);
  }
  /** A view of `length` elements, all 0 when `zero` (else whatever the last build left). */
  take(length: number, zero: boolean): T {
    if (this.array.length < length)
      this.array = this.make(Math.max(length, Math.ceil(this.array.length * 1.5), 64));
    const view = this.array.subarray(0, length) as T;
    if (zero) view.fill(0);
    return view;
  }
}

export const int32Scratch = (): Scratch<Int32Array> => new Scratch((n) => new Int32Array(n));
export const uint32Scratch = (): Scratch<Uint32Array> => new Scratch((n) => new Uint32Array(n));
export const float64Scratch = (): Scratch<Float64Array> => new Scratch((n) => new Float64Array(n));
export type { Scratch };
