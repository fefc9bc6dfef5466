// The public surface of ring/: pure consistent hashing for shardgate pools.

export {
  boundedLoadPerMember,
  idealMovedFraction,
  keysPerMember,
  type LoadStats,
  loadStats,
  movedFraction,
  ownersOf,
} from "./analysis.js";
export {
  BoundedLoad,
  type BoundedLoadOptions,
  DEFAULT_BALANCE_FACTOR,
  withBoundedLoad,
} from "./bounded-load.js";
export { buildTable, type RingAlgorithm, type TableSpec } from "./build.js";
export { hashBytes, hashKey } from "./hash.js";
export { buildMaglev, DEFAULT_MAGLEV_TABLE_SIZE, isPrime, Maglev, type MaglevOptions } from "./maglev.js";
export { canonicalMembers } from "./members.js";
export { randomKeyHashes, randomKeys, seededRandom } from "./random.js";
export {
  RING_CONFIG_ERROR_CODES,
  RingConfigError,
  type RingConfigErrorCode,
  RingError,
} from "./ring-error.js";
export { buildRingHash, DEFAULT_POINTS_PER_WEIGHT, RingHash, type RingHashOptions } from "./ring-hash.js";
export type { AcceptMember, HashTable, RingMember } from "./types.js";
