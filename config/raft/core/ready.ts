// What the core hands to the driver after processing input. The driver MUST, in this order:
//   1. persist `snapshot` (if any), then `entries` (truncating any existing suffix from
//      entries[0].index), then `hardState` (if any) — durably (fsync);
//   2. send `messages` (only now: they may promise that the writes above are durable);
//   3. apply `snapshot` (if any) to the state machine, then `committedEntries` in order;
//      serve `readStates` once the state machine has applied up to their index;
//   4. call `node.advance(ready)`.
import type { Entry, HardState, NodeId, Snapshot } from "../types.js";
import type { Message } from "./message.js";

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
