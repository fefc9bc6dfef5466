// The ring's lookup by its definition, for tests that check the packed and indexed lookups of
// ring/ring-hash.ts against it: the slot of hash h is the first point >= h, and past the last
// point it wraps to slot 0. A plain binary search over all the points, fit for big rings.

/** The slot of `h` among the sorted `points`: the first point >= h, else 0. */
export function referenceSlot(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid] < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}
