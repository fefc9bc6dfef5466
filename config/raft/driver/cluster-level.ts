// The driver's side of the version gate (core/feature-level.ts): this build's own level, the
// committed cluster level (raised by KIND_LEVEL entries and snapshots, never lowered), the
// leader's decision to propose a higher one, and the refusals of what the level lacks.
import { isAdvertisableLevel, levelTooLow, RELEASED_LEVEL } from "../core/index.js";
import { decodeLevel } from "./envelope.js";
import { DriverError } from "./errors.js";

export class ClusterLevel {
  private committedLevel = RELEASED_LEVEL;
  private proposing = false;

  /** `own`: the level this build advertises; `onRaise`: the committed level rose to `level`. */
  constructor(
    readonly own: number,
    private readonly onRaise: (level: number) => void,
  ) {}

  get committed(): number {
    return this.committedLevel;
  }

  /** The committed level is at least `level` (a level entry or a snapshot): it never goes down. */
  raise(level: number): void {
    if (level <= this.committedLevel) return;
    this.committedLevel = level;
    this.onRaise(level);
  }

  /** The level a committed KIND_LEVEL body sets, or why this build cannot take it. */
  readEntry(body: Uint8Array): number | string {
    const level = decodeLevel(body, isAdvertisableLevel);
    if (level === undefined) return "an unreadable cluster level";
    return level > this.own ? `cluster level ${level}` : level;
  }

  /** A snapshot of a level above this build's cannot be restored: UPGRADE_REQUIRED. */
  checkSnapshot(level: number, index: number): void {
    if (level > this.own)
      throw new DriverError(
        "UPGRADE_REQUIRED",
        `snapshot ${index} is of cluster level ${level}; this build understands level ${this.own}`,
      );
  }

  /**
   * Leader: the level to propose now (then in flight until proposalSettled), or undefined. The
   * fleet's minimum includes this node, so nothing is asked once the level reached its own.
   */
  nextProposal(fleetLevel: () => number | undefined): number | undefined {
    if (this.proposing || this.committedLevel >= this.own) return undefined;
    const fleet = fleetLevel();
    if (fleet === undefined || fleet <= this.committedLevel) return undefined;
    this.proposing = true;
    return fleet;
  }

  proposalSettled(): void {
    this.proposing = false;
  }

  /** Throws LEVEL_TOO_LOW unless the committed level has `need`. */
  require(need: number, what: string, leader: string): void {
    if (this.committedLevel < need)
      throw new DriverError("LEVEL_TOO_LOW", levelTooLow(what, need, this.committedLevel), leader);
  }
}
