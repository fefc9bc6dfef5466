// Public surface of the pure Raft core. The driver, storage and transport import from here.
export { decodeConfChange, decodeMessages, encodeConfChange, encodeMessages } from "./codec.js";
export {
  applyConfChange,
  BOOTSTRAP_HARD_STATE,
  bootstrapSnapshot,
  confChangeProblem,
  confStateAfter,
  incarnationIn,
  isRejoining,
  sameConf,
  withExtras,
} from "./conf.js";
export {
  CodecError,
  CompactedError,
  LEARNER_BEHIND,
  notAVoter,
  ProposalDropped,
  RaftConfigError,
  RaftError,
  type RaftErrorCode,
  RaftInvariantError,
  RaftUsageError,
  READS_FULL,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  UNCOMMITTED_FULL,
  UnavailableError,
} from "./errors.js";
export {
  CURRENT_LEVEL,
  isAdvertisableLevel,
  LEVEL_CLUSTER_ID,
  LEVEL_CLUSTER_LEVEL,
  LEVEL_FORWARDED_NOTHING,
  LEVEL_HOST_KEY,
  LEVEL_HOST_KEY_PORTS,
  LEVEL_INCARNATION_CONF,
  LEVEL_KEY_SPELLING,
  LEVEL_SNAP_STATUS,
  LEVEL_SNAPSHOT_RETIRED,
  LEVEL_TOO_LOW,
  levelTooLow,
  MAX_ADVERTISED_LEVEL,
  RELEASED_LEVEL,
} from "./feature-level.js";
export { MemoryStorage } from "./memory-storage.js";
export {
  carriesLevel,
  isResponse,
  MESSAGE_TYPES,
  type Message,
  type MessageInit,
  type MessageType,
  newMessage,
} from "./message.js";
export { mixSeed, Prng } from "./prng.js";
export type { ProgressState } from "./progress.js";
export type { ProgressStatus, ProposalResult, RaftConfig, RaftStatus } from "./raft-config.js";
export { RaftNode } from "./raft-node.js";
export {
  canSendBeforeSync,
  mustSync,
  type ReadState,
  type Ready,
  type Role,
  type SoftState,
  sentBeforeSync,
} from "./ready.js";
export { REFUSAL_REASONS, type RefusalReason } from "./refusals.js";
export type { InitialState, RaftStorage } from "./storage.js";
