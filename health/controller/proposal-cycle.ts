// One pool's proposing loop on the leader, shared by the membership and health controllers:
// a timer that fires the controller's flush, at most one proposal in flight (a change seen
// meanwhile sets `again`), and the failure count that spaces retries. The controller decides
// what to propose (recomputed from the committed state on every flush, so a retry never
// proposes a stale or already-committed change) and when to debounce.

import type { CommandInput } from "../../config/state/commands.js";
import { type ControllerClock, errorText, type Propose, type TimerHandle } from "./deps.js";

export class ProposalCycle {
  closed = false;
  inFlight = false;
  /** A change arrived while a proposal was in flight: flush again once it settles. */
  again = false;
  /** Consecutive failed proposals (0 after a success). */
  failures = 0;
  proposals = 0;
  failedProposals = 0;
  lastError: string | undefined = undefined;
  /** What the last failed proposal threw, as thrown (callers pass its code on). */
  lastFailure: unknown = undefined;
  private timer: TimerHandle | undefined = undefined;

  constructor(
    private readonly clock: ControllerClock,
    private readonly flush: () => void,
  ) {}

  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** (Re)starts the timer: flush runs in `delay` ms unless re-armed or closed first. */
  arm(delay: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.flush();
      },
      Math.max(0, delay),
    );
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Proposes `command` with the cycle marked in flight; resolves true once it is committed,
   * false when it failed (the error is in lastError, the failure counted). Never rejects.
   */
  async propose(propose: Propose, command: CommandInput): Promise<boolean> {
    this.inFlight = true;
    this.again = false;
    this.proposals++;
    try {
      await propose(command);
      this.failures = 0;
      this.lastError = undefined;
      this.lastFailure = undefined;
      return true;
    } catch (err) {
      this.failures++;
      this.failedProposals++;
      this.lastError = errorText(err);
      this.lastFailure = err;
      return false;
    } finally {
      this.inFlight = false;
    }
  }

  /** Delay before the next retry: `baseMs` doubling per consecutive failure, capped at `maxMs`. */
  retryDelay(baseMs: number, maxMs: number): number {
    return Math.min(maxMs, baseMs * 2 ** Math.min(this.failures - 1, 30));
  }
}
