// The messages Raft nodes exchange. One flat shape (as in etcd's raftpb.Message) so the codec
// stays simple and a message can be built without a class hierarchy. Field meaning per type:
//   app:        index/logTerm = prevLogIndex/prevLogTerm, entries, commit = leader commit
//   appResp:    index = last index known to match (or the rejected prevLogIndex when reject),
//               rejectHint/logTerm = the follower's conflict hint (index, term at it),
//               level = the sender's feature level (core/feature-level.ts)
//   vote/preVote: index/logTerm = candidate's last index/term; force = leadership transfer;
//               context = the incarnation the candidate's configuration names for the voter (UTF-8)
//   heartbeat:  commit = min(follower match, leader commit), context = ReadIndex ctx (or empty)
//   heartbeatResp: context = the echoed ReadIndex ctx, level = the sender's feature level
//   snap:       snapshot
//   prop:       entries forwarded by a follower (term 0)
//   readIndex:  context = read ctx forwarded by a follower (term 0); readIndexResp: index + context
//   timeoutNow: the leader asks the transfer target to campaign now
//   transferLeader: context = the transfer target's id (UTF-8), forwarded by a follower (term 0)
//   snapStatus: reject = the follower refused the snapshot at `index` (could not restore it; etcd's
//               MsgSnapStatus): the leader backs off before resending. Level LEVEL_SNAP_STATUS.
import type { Entry, NodeId, Snapshot } from "../types.js";

export type MessageType =
  | "app"
  | "appResp"
  | "vote"
  | "voteResp"
  | "preVote"
  | "preVoteResp"
  | "heartbeat"
  | "heartbeatResp"
  | "snap"
  | "prop"
  | "readIndex"
  | "readIndexResp"
  | "timeoutNow"
  | "transferLeader"
  | "snapStatus";

export const MESSAGE_TYPES: readonly MessageType[] = [
  "app",
  "appResp",
  "vote",
  "voteResp",
  "preVote",
  "preVoteResp",
  "heartbeat",
  "heartbeatResp",
  "snap",
  "prop",
  "readIndex",
  "readIndexResp",
  "timeoutNow",
  "transferLeader",
  // Appended, never inserted: the wire carries a type as its index here.
  "snapStatus",
];

export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  /** Campaign triggered by leadership transfer: voters ignore their leader lease. */
  readonly force: boolean;
  readonly context: Uint8Array;
  readonly snapshot?: Snapshot;
  /**
   * The sender's data-directory incarnation ("" for a founder's). A member's message whose
   * incarnation is not the one the receiver's configuration names neither votes nor counts.
   */
  readonly incarnation: string;
  /**
   * appResp/heartbeatResp: the sender's feature level (what it understands of the log); 0 on
   * every other type. On the wire it rides the commit slot those responses leave unused, so the
   * released version (which ignores it there) reads the frames unchanged, and its own responses
   * (slot 0) read as the released level.
   */
  readonly level: number;
}

/** Whether messages of this type carry the sender's feature level. */
export function carriesLevel(type: MessageType): boolean {
  return type === "appResp" || type === "heartbeatResp";
}

const NO_ENTRIES: readonly Entry[] = Object.freeze([]);
const NO_BYTES = new Uint8Array(0);

export type MessageInit = Pick<Message, "type" | "from" | "to"> & Partial<Message>;

/** Builds a message with every unspecified field at its zero value. */
export function newMessage(init: MessageInit): Message {
  return messageFrom(init.from, init);
}

/** newMessage with the sender given separately (the core's send path: one allocation). */
export function messageFrom(
  from: string,
  init: Omit<MessageInit, "from">,
  incarnation = "",
  level = 0,
): Message {
  return {
    type: init.type,
    from,
    to: init.to,
    term: init.term ?? 0,
    logTerm: init.logTerm ?? 0,
    index: init.index ?? 0,
    entries: init.entries ?? NO_ENTRIES,
    commit: init.commit ?? 0,
    reject: init.reject ?? false,
    rejectHint: init.rejectHint ?? 0,
    force: init.force ?? false,
    context: init.context ?? NO_BYTES,
    snapshot: init.snapshot,
    incarnation: init.incarnation ?? incarnation,
    level: init.level ?? level,
  };
}

/** Messages that go to a node's own log write path must be persisted first; these never do. */
export function isResponse(type: MessageType): boolean {
  return (
    type === "appResp" ||
    type === "voteResp" ||
    type === "preVoteResp" ||
    type === "heartbeatResp" ||
    type === "readIndexResp"
  );
}
