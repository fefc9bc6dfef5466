// What a RaftDriver is configured with: the state-machine interface the application
// implements, the options, and their validated defaults (one place, so the facade and the
// Ready loop agree on every default).

import { CURRENT_LEVEL } from "../core/index.js";
import type { FileStorageOptions } from "../storage/index.js";
import { frames, parseAddress, type TcpTransportOptions } from "../transport/index.js";
import type { NodeId } from "../types.js";
import { DriverError } from "./errors.js";

/** The replicated state machine. apply() must be deterministic; restore(empty) resets it. */
export interface StateMachine {
  apply(entry: { index: number; term: number; data: Uint8Array }): unknown;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
  /**
   * Why restore(data) would fail, or undefined if it would not; must change nothing. The driver
   * asks before a snapshot a peer sent reaches the core (and the disk): one that fails here is
   * refused, so it never replaces a log this node could still start from. Without it every
   * snapshot whose envelope decodes is installed.
   */
  validate?(data: Uint8Array): string | undefined;
  /**
   * validate() that keeps its work: decodes `data` as restore(data) would and returns the
   * decoded state (for restoreDecoded) or why restore would fail; must change nothing. With
   * both of these, a snapshot a peer sent is decoded once: checked on arrival, and the decoded
   * value handed to restoreDecoded when it is installed (restore(data) stays for the start's
   * own snapshot and for any snapshot whose decoded value is not at hand).
   */
  decodeSnapshot?(data: Uint8Array): { ok: true; state: unknown } | { ok: false; error: string };
  /** restore(data) from what decodeSnapshot(data) returned for the same bytes. */
  restoreDecoded?(state: unknown): void;
  /**
   * The length snapshot() would have once `command` applied (undefined: apply would reject it
   * and change nothing). With it, propose() refuses a command that would take the state past
   * maxStateBytes (STATE_TOO_LARGE), on whichever node it is proposed. Must change nothing.
   */
  encodedBytesAfter?(command: Uint8Array): number | undefined;
  /**
   * The length snapshot() has now (to within the few digits of its indexes). With it, the leader
   * counts what each proposal it appended adds (encodedBytesAfter minus this) until it is
   * applied, so proposals in flight cannot cross maxStateBytes between them; without it, each
   * counts the driver's upper estimate. Must change nothing.
   */
  encodedBytes?(): number;
  /**
   * A command standing for a forwarded proposal the leader refused (its reason in `message`):
   * appended in the proposal's place with the proposer's envelope, so the proposer learns the
   * refusal when it applies it. apply must reject it on every build, changing nothing (an
   * older build's, too). With refusalIn, the leader checks forwarded proposals against
   * maxStateBytes as propose() does the proposer's own.
   */
  refusal?(message: string): Uint8Array;
  /** The message of a command refusal() made, or undefined for any other command. */
  refusalIn?(command: Uint8Array): string | undefined;
}

export interface RaftDriverOptions {
  id: NodeId;
  /** Directory of the WAL and snapshots (created if missing). */
  dataDir: string;
  /** The cluster's shared secret (>= 16 bytes); authenticates every transport frame. */
  secret: string | Uint8Array;
  /** id -> "host:port" of the members this node knows; its own entry is where it listens. */
  peers: Readonly<Record<NodeId, string>>;
  /** Listen address; default: this node's entry in `peers`. */
  listen?: { host?: string; port?: number };
  /**
   * Voters of a brand-new cluster (the same list on every founding member). Ignored when the
   * data directory already holds state. Without it an empty node waits to be added (learner).
   */
  bootstrap?: readonly NodeId[];
  stateMachine: StateMachine;
  /** Tick and heartbeat interval; default 100 ms. */
  heartbeatMs?: number;
  /** Election timeout; a follower campaigns after a random time in [electionMs, 2*electionMs). Default 1000. */
  electionMs?: number;
  /** Take a snapshot after this many applied entries; default 10000. */
  snapshotEvery?: number;
  /**
   * Also take one once this many bytes of entries were applied since the last, and keep at
   * most a quarter of it behind the snapshot; default 8 MiB. The log lives in memory until
   * compacted, and a reload of a 5,000-member pool is a ~0.35 MB entry: by count alone,
   * every reload stayed resident (RSS grew ~0.7 MB per reload).
   */
  snapshotBytes?: number;
  /** Entries kept behind a snapshot so slightly lagging followers avoid a snapshot; default 1000. */
  compactMargin?: number;
  /** Proposals, reads and conf changes reject with TIMEOUT after this long; default 5000 ms. */
  requestTimeoutMs?: number;
  /**
   * Bounds while a leader cannot commit (proposals and reads refused at once with OVERLOADED
   * past them): this node's proposals awaiting their outcome (default 1024), its reads
   * awaiting confirmation (default 4096), and the leader's uncommitted entry bytes (default 4 MiB).
   */
  maxPendingProposals?: number;
  maxPendingReads?: number;
  maxUncommittedBytes?: number;
  /**
   * Bound on the state machine's encoded size (its snapshot), checked on proposal (see
   * StateMachine.encodedBytesAfter): a snapshot goes to a follower in one transport frame, so
   * a state past the frame limit could never reach a follower that needs it. Default: the
   * largest transport payload minus a quarter of the frame limit (48 MiB of 64 MiB), headroom
   * for the snapshot's envelope and for proposals in flight that were checked against a state
   * without each other (the uncommitted log holds 4 MiB, or one command of at most 8 MiB).
   */
  maxStateBytes?: number;
  /** fsync the WAL on every group commit; default true. */
  fsync?: boolean;
  /** Seed of the core's election-timeout PRNG; default random. */
  seed?: number;
  storage?: Omit<FileStorageOptions, "fsync" | "onWarning">;
  transport?: Omit<TcpTransportOptions, "id" | "secret" | "host" | "port" | "peers" | "onMessage">;
  onWarning?: (message: string) => void;
  /** Refused cluster traffic is logged once per (peer, reason) per this many ms (driver/refusal-log.ts). Default 60000. */
  refusalLogMs?: number;
  /**
   * The feature level this node advertises (default CURRENT_LEVEL). A test seam: a lower one
   * makes the node act as an older build (it advertises, refuses to apply, and refuses the frame
   * flags of, anything above).
   * Not read from any config file or environment variable.
   */
  level?: number;
}

export interface DriverSettings {
  readonly heartbeatMs: number;
  readonly electionMs: number;
  readonly snapshotEvery: number;
  readonly snapshotBytes: number;
  readonly compactMargin: number;
  readonly timeoutMs: number;
  readonly maxPendingProposals: number;
  readonly maxPendingReads: number;
  readonly maxStateBytes: number;
}

/** The transport's default frame limit (TcpTransport's maxFrameBytes). */
const DEFAULT_FRAME_BYTES = 64 * 1024 * 1024;

/** maxStateBytes' default for a transport frame limit (see RaftDriverOptions.maxStateBytes). */
export function defaultMaxStateBytes(maxFrameBytes = DEFAULT_FRAME_BYTES): number {
  return frames.maxDataPayloadBytes(maxFrameBytes) - Math.floor(maxFrameBytes / 4);
}

/** Validates `opts` (throws DriverError BAD_ARGUMENT) and fills in the defaults. */
export function resolveSettings(opts: RaftDriverOptions): DriverSettings {
  if (!opts.id) throw new DriverError("BAD_ARGUMENT", "driver: id is required");
  const heartbeatMs = opts.heartbeatMs ?? 100;
  const electionMs = opts.electionMs ?? 1000;
  if (!(heartbeatMs > 0) || !(electionMs >= 2 * heartbeatMs)) {
    throw new DriverError("BAD_ARGUMENT", "driver: need heartbeatMs > 0 and electionMs >= 2 * heartbeatMs");
  }
  for (const addr of Object.values(opts.peers)) parseAddress(addr);
  if (
    opts.level !== undefined &&
    !(Number.isInteger(opts.level) && opts.level >= 0 && opts.level <= CURRENT_LEVEL)
  )
    throw new DriverError("BAD_ARGUMENT", `driver: level must be an integer in [0, ${CURRENT_LEVEL}]`);
  if (
    opts.maxStateBytes !== undefined &&
    !(Number.isSafeInteger(opts.maxStateBytes) && opts.maxStateBytes > 0)
  )
    throw new DriverError("BAD_ARGUMENT", "driver: maxStateBytes must be a positive integer");
  return {
    heartbeatMs,
    electionMs,
    snapshotEvery: opts.snapshotEvery ?? 10_000,
    snapshotBytes: opts.snapshotBytes ?? 8 * 1024 * 1024,
    compactMargin: opts.compactMargin ?? 1_000,
    timeoutMs: opts.requestTimeoutMs ?? 5_000,
    maxPendingProposals: opts.maxPendingProposals ?? 1024,
    maxPendingReads: opts.maxPendingReads ?? 4096,
    maxStateBytes: opts.maxStateBytes ?? defaultMaxStateBytes(opts.transport?.maxFrameBytes),
  };
}
