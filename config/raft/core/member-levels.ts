// Leader-side record of the feature level each member advertised in its responses this term
// (core/feature-level.ts). Cleared when the term's leadership ends: a new leader decides the
// fleet's level only from what it heard itself, and for a member when it leaves the configuration.
import type { NodeId } from "../types.js";

export class MemberLevels {
  private readonly heard = new Map<NodeId, number>();

  record(id: NodeId, level: number): void {
    this.heard.set(id, level);
  }

  /** A member that left the configuration: its level goes with it. */
  forget(id: NodeId): void {
    this.heard.delete(id);
  }

  ids(): NodeId[] {
    return [...this.heard.keys()];
  }

  clear(): void {
    this.heard.clear();
  }

  get(id: NodeId): number | undefined {
    return this.heard.get(id);
  }

  /**
   * The minimum level over `members` (self at `ownLevel`), or undefined while any member has not
   * answered this leader yet: as etcd's monitor (3.5 on), no decision on a partial view, so a
   * member that was down while the level rose cannot come back to entries it does not know.
   */
  fleetMinimum(members: Iterable<NodeId>, self: NodeId, ownLevel: number): number | undefined {
    let min = ownLevel;
    for (const id of members) {
      if (id === self) continue;
      const l = this.heard.get(id);
      if (l === undefined) return undefined;
      if (l < min) min = l;
    }
    return min;
  }
}
