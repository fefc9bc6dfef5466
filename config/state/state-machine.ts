// The Raft driver's state machine over the replicated ClusterState: every committed entry is
// applied in log order and its StateChange handed to the listener (which rebuilds routing off
// the request path); a snapshot from the leader replaces the whole state and is reported as a
// restore. Deterministic: nothing here reads a clock or the local file.

import type { StateErrorCode } from "../coded-error.js";
import { CURRENT_LEVEL } from "../raft/core/index.js";
import { DriverError, type StateMachine } from "../raft/driver.js";
import { ClusterState, type ClusterStateData, type StateChange } from "./cluster-state.js";
import { COMMAND_LEVEL, encodeRefusal, laterVersionReason, peekCommandType, refusalIn } from "./commands.js";
import { restoreSnapshot } from "./snapshot.js";
import { encodedStateBytes } from "./state-size.js";
import { transition } from "./transitions.js";
import { validateCommandOnce } from "./validated-once.js";

/** Why apply rejected an entry: its stable code and its message. */
export interface Rejection {
  readonly code: StateErrorCode;
  readonly message: string;
}

export interface ClusterStateListener {
  /** One committed entry applied (also rejected ones: `change.applied` says which). */
  onApply(change: StateChange, before: ClusterStateData, after: ClusterStateData): void;
  /** The state was replaced by a snapshot (or reset). */
  onRestore(after: ClusterStateData): void;
}

/** Recent rejected entries, by index, so a proposer learns why its command did not apply. */
const REJECTIONS_KEPT = 256;

export class ClusterStateMachine implements StateMachine {
  private state = new ClusterState();
  private readonly rejections = new Map<number, Rejection>();

  /**
   * `level`: the feature level this build understands (default CURRENT_LEVEL). A lower one is a
   * test seam that makes this state machine act as an older build's.
   */
  constructor(
    private readonly listener: ClusterStateListener,
    private readonly level = CURRENT_LEVEL,
  ) {}

  get current(): ClusterStateData {
    return this.state.current;
  }

  /**
   * Applies one committed entry. Throws DriverError UPGRADE_REQUIRED for a command of a later
   * version than this build (only the state's applied index moved; no listener hears of it):
   * the driver then stops applying at it instead of skipping it, which would leave this
   * instance's state unlike the fleet's. A restart replays from the snapshot.
   */
  apply(entry: { index: number; term: number; data: Uint8Array }): StateChange {
    const before = this.state.current;
    if (this.level < CURRENT_LEVEL) {
      const type = peekCommandType(entry.data);
      if (type !== undefined && COMMAND_LEVEL[type] > this.level)
        throw new DriverError("UPGRADE_REQUIRED", `${type} needs feature level ${COMMAND_LEVEL[type]}`);
    }
    const change = this.state.apply(entry.index, entry.data);
    if (!change.applied && change.code === "invalid_command") {
      const later = laterVersionReason(entry.data);
      if (later !== undefined) throw new DriverError("UPGRADE_REQUIRED", later);
    }
    if (!change.applied && change.error !== undefined) {
      this.rejections.set(entry.index, { code: change.code ?? "internal", message: change.error });
      if (this.rejections.size > REJECTIONS_KEPT) {
        const first = this.rejections.keys().next().value as number;
        this.rejections.delete(first);
      }
    }
    this.listener.onApply(change, before, this.state.current);
    return change;
  }

  /** Why the entry at `index` was rejected by apply, if it was (and is still remembered). */
  rejectionAt(index: number): Rejection | undefined {
    return this.rejections.get(index);
  }

  snapshot(): Uint8Array {
    return this.state.snapshot();
  }

  /**
   * The snapshot's length if `command` were applied to the current state now (to within the
   * few digits of its indexes), or undefined when apply would reject it (the state then keeps
   * its size). Changes nothing; the driver asks on proposal (RaftDriverOptions.maxStateBytes).
   */
  encodedBytesAfter(command: Uint8Array): number | undefined {
    const decoded = validateCommandOnce(command);
    if (!decoded.ok) return undefined;
    const now = this.state.current;
    let t: ReturnType<typeof transition>;
    try {
      t = transition(now, decoded.command);
    } catch {
      return undefined;
    }
    if (!t.ok) return undefined;
    return encodedStateBytes({ ...now, routing: t.routing, pools: t.pools });
  }

  /** The snapshot's length now (to within the few digits of its indexes). */
  encodedBytes(): number {
    return encodedStateBytes(this.state.current);
  }

  /** A leader's refusal of a forwarded command (commands.ts encodeRefusal): rejected by apply. */
  refusal(message: string): Uint8Array {
    return encodeRefusal(message);
  }

  refusalIn(command: Uint8Array): string | undefined {
    return refusalIn(command);
  }

  /** Why restore(data) would throw, or undefined; decodes and checks only, the state is untouched. */
  validate(data: Uint8Array): string | undefined {
    const r = this.decodeSnapshot(data);
    return r.ok ? undefined : r.error;
  }

  /**
   * validate() keeping the decoded state for restoreDecoded (null: the empty state), so a
   * snapshot from the leader is decoded once (+170 ms at 5,000 members when it was twice).
   */
  decodeSnapshot(
    data: Uint8Array,
  ): { ok: true; state: ClusterStateData | null } | { ok: false; error: string } {
    if (data.length === 0) return { ok: true, state: null };
    const r = restoreSnapshot(data);
    return r.ok
      ? { ok: true, state: r.data }
      : { ok: false, error: `cluster state snapshot rejected: ${r.error}` };
  }

  /** restore(data) from decodeSnapshot(data)'s state. */
  restoreDecoded(state: unknown): void {
    const next = new ClusterState();
    if (state !== null) next.restoreDecoded(state as ClusterStateData);
    this.state = next;
    this.listener.onRestore(this.state.current);
  }

  restore(data: Uint8Array): void {
    if (data.length === 0) {
      this.state = new ClusterState();
    } else {
      const next = new ClusterState();
      const r = next.restore(data);
      // A snapshot this build cannot read: stop rather than route on a state that is not the fleet's.
      if (!r.ok) throw new Error(`cluster state snapshot rejected: ${r.error}`);
      this.state = next;
    }
    this.listener.onRestore(this.state.current);
  }
}
