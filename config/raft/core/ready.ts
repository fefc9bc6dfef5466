// What the core hands to the driver after processing input, and the contract for handling it.
//
// The reference order is: 1. persist `snapshot` (if any), then `entries` (truncating any
// existing suffix from entries[0].index), then `hardState` (if any), durably; 2. send
// `messages`; 3. apply `snapshot` (if any), then `committedEntries` in order, and serve
// `readStates` once the state machine has applied up to their index; 4. `node.advance(ready)`.
// A driver that follows it is correct. A driver MAY relax it in exactly these ways (the shardgate
// driver does all four, as etcd's raft does; driver/ready-loop.ts):
//
//   a. Requests before the sync. When the Ready has no snapshot and does not change term or
//      vote (canSendBeforeSync), messages of the types in sentBeforeSync (a leader's "app" and
//      "heartbeat", "timeoutNow", a follower's forwarded "prop", "readIndex" and
//      "transferLeader") may be sent
//      while its entries are being written. They promise nothing about this node's disk. The
//      one that matters is a leader's append of entries it has not yet persisted: a follower
//      that acknowledges it has made the entry durable ITSELF, and the leader counts its own
//      log toward a commit quorum only from advance() on (raft-node.ts), so an entry commits
//      only when a quorum other than an unsynced leader holds it (thesis §10.2.1: the leader
//      may write its log in parallel with replicating it). A crash before the sync loses the
//      leader's copy only; the usual log-matching repair follows. Every other message
//      (responses, votes, a snapshot) waits for the sync: it states what this node has durably.
//   b. Apply before the sync. committedEntries may be applied before this Ready's entries and
//      hard state are durable: being committed, they are durable on a quorum, can never be
//      overwritten, and will be re-delivered after a crash (applied is not persisted). With a
//      snapshot in the Ready the reference order holds (persist it, restore it, then apply).
//   c. MustSync. A hard state whose only change is `commit` may be written without a sync
//      (mustSync false): commit is only a lower bound the leader re-sends, and the entries it
//      covers were synced by earlier Readys. Entries, a snapshot, term or vote must be synced.
//   d. advance() still comes last, after the sync: it is what tells the core the writes are
//      durable (the leader's self-count toward a quorum, the follower's stable index).
// Never: send a response or vote before the sync, advance() before the sync, or call ready()
// again before advance().
import type { Entry, HardState, NodeId, Snapshot } from "../types.js";
import type { Message, MessageType } from "./message.js";

export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** A linearizable read is safe at `index` once the state machine applied that index. */
export interface ReadState {
  readonly index: number;
  readonly ctx: Uint8Array;
}

/** Volatile state, reported when it changes (not persisted). */
export interface SoftState {
  readonly lead: NodeId;
  readonly role: Role;
}

export interface Ready {
  readonly messages: readonly Message[];
  readonly entries: readonly Entry[];
  readonly hardState?: HardState;
  readonly committedEntries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly readStates: readonly ReadState[];
  readonly softState?: SoftState;
}

/** Message types that may leave before the Ready's writes are durable (relaxation a). */
export const sentBeforeSync: ReadonlySet<MessageType> = new Set<MessageType>([
  "app",
  "heartbeat",
  "prop",
  "readIndex",
  "timeoutNow",
  "transferLeader",
]);

/** True when the Ready changes term or vote relative to `prev`, the hard state already persisted. */
function changesVote(rd: Ready, prev: HardState): boolean {
  const hs = rd.hardState;
  return hs !== undefined && (hs.term !== prev.term || hs.vote !== prev.vote);
}

/** Whether handling `rd` needs a sync (relaxation c: a commit-only hard state does not). */
export function mustSync(rd: Ready, prev: HardState): boolean {
  return rd.snapshot !== undefined || rd.entries.length > 0 || changesVote(rd, prev);
}

/** Whether `rd`'s messages of the sentBeforeSync types may be sent before its sync (relaxation a). */
export function canSendBeforeSync(rd: Ready, prev: HardState): boolean {
  return rd.snapshot === undefined && !changesVote(rd, prev);
}
