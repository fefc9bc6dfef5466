// MurmurHash3 x86_32, the key and point hash of every table in ring/.
//
// This is a cross-instance and cross-release contract: every shardgate instance must map
// a key to the same 32-bit value, forever, or instances stop agreeing on owners. Keys are
// hashed as their UTF-8 bytes (lone surrogates become U+FFFD, as TextEncoder does), blocks
// are read little-endian whatever the platform. test/ring/hash.test.ts pins the published
// SMHasher vectors and a set of shardgate key -> hash values; never change either.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** One 4-byte block `k`, scrambled (also a tail's, before it is xored into the state). */
function scramble(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

/** The state `h` after mixing in one scrambled block. */
function mixBlock(h: number, k: number): number {
  h ^= scramble(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** The finalizer of a hash of `len` bytes: avalanches `h`, unsigned. */
function finalMix(h: number, len: number): number {
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 of `bytes[0..len)` with `seed`; returns an unsigned 32-bit integer. */
export function hashBytes(bytes: Uint8Array, len: number = bytes.length, seed = 0): number {
  if (!Number.isInteger(len) || len < 0 || len > bytes.length) {
    throw new RangeError(`hashBytes: len must be an integer in [0, ${bytes.length}], got ${len}`);
  }
  return murmurFinish(murmurBlocks(seed >>> 0, bytes, 0, len & ~3), bytes, len & ~3, len);
}

/**
 * MurmurHash3's state after mixing the whole 4-byte blocks of `bytes[from..end)` into `h`
 * (`end - from` a multiple of 4). With murmurFinish, lets a caller hash many keys that share
 * a prefix from the prefix's state (ring/point-hash.ts) and stay equal to hashBytes.
 */
export function murmurBlocks(h: number, bytes: Uint8Array, from: number, end: number): number {
  for (let i = from; i < end; i += 4) {
    h = mixBlock(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  }
  return h;
}

/** Mixes the tail `bytes[i..len)` (fewer than 4 bytes) and finalizes a hash of `len` bytes. */
export function murmurFinish(h: number, bytes: Uint8Array, i: number, len: number): number {
  const tail = len & 3;
  if (tail !== 0) {
    let k = bytes[i];
    if (tail > 1) k |= bytes[i + 1] << 8;
    if (tail > 2) k |= bytes[i + 2] << 16;
    h ^= scramble(k);
  }
  return finalMix(h, len);
}

// One scratch buffer for all keys: hashing runs synchronously and never re-enters, so a
// module-level buffer is safe and keeps hashKey allocation-free after it has grown once.
const MAX_SCRATCH = 64 * 1024;
let scratch = new Uint8Array(256);
const encoder = new TextEncoder();

/**
 * MurmurHash3 x86_32 of the UTF-8 bytes of `key`; allocation-free once the scratch buffer fits.
 * An ASCII key (ids, session tokens, paths: nearly all) is its own UTF-8, so it is hashed from
 * its character codes in one pass; the first character past ASCII sends it to the byte path.
 */
export function hashKey(key: string, seed = 0): number {
  const n = key.length;
  const end = n & ~3;
  let h = seed >>> 0;
  let i = 0;
  for (; i < end; i += 4) {
    const c0 = key.charCodeAt(i);
    const c1 = key.charCodeAt(i + 1);
    const c2 = key.charCodeAt(i + 2);
    const c3 = key.charCodeAt(i + 3);
    if ((c0 | c1 | c2 | c3) >= 0x80) return hashKeyBytes(key, seed);
    h = mixBlock(h, c0 | (c1 << 8) | (c2 << 16) | (c3 << 24));
  }
  const tail = n & 3;
  if (tail !== 0) {
    const c0 = key.charCodeAt(i);
    const c1 = tail > 1 ? key.charCodeAt(i + 1) : 0;
    const c2 = tail > 2 ? key.charCodeAt(i + 2) : 0;
    if ((c0 | c1 | c2) >= 0x80) return hashKeyBytes(key, seed);
    h ^= scramble(c0 | (c1 << 8) | (c2 << 16));
  }
  return finalMix(h, n);
}

/** hashKey of a key with characters past ASCII: its UTF-8 bytes encoded, then hashed. */
function hashKeyBytes(key: string, seed: number): number {
  const n = key.length;
  // UTF-8 needs at most 3 bytes per UTF-16 code unit (a surrogate pair is 4 bytes for 2 units).
  // The scratch grows to fit ordinary keys; a huge one-off key gets its own buffer so it
  // does not pin megabytes for the life of the process.
  if (n * 3 > scratch.length) {
    if (n * 3 > MAX_SCRATCH) {
      const bytes = encoder.encode(key);
      return hashBytes(bytes, bytes.length, seed);
    }
    scratch = new Uint8Array(Math.min(MAX_SCRATCH, Math.max(n * 3, scratch.length * 2)));
  }
  const { written } = encoder.encodeInto(key, scratch);
  return hashBytes(scratch, written, seed);
}
