// What the three leader-side controllers (membership, health, breaker) share: the options
// block every one of them takes (committed state, propose, clock, logger), validated once,
// and the running flag that start()/stop() flip on leadership changes.

import { type LogSink, SILENT_LOG } from "../../config/log-sink.js";
import { type ControllerClock, checkCoreOptions, type GetState, type Propose, SYSTEM_CLOCK } from "./deps.js";

export interface LeaderControllerOptions {
  getState: GetState;
  propose: Propose;
  clock?: ControllerClock;
  logger?: LogSink;
}

export abstract class LeaderController {
  protected readonly getState: GetState;
  protected readonly propose: Propose;
  protected readonly clock: ControllerClock;
  protected readonly log: LogSink;
  protected running = false;

  /** `what` names the controller in option errors ("health controller: ..."). */
  constructor(what: string, opts: LeaderControllerOptions) {
    checkCoreOptions(what, opts);
    this.getState = opts.getState;
    this.propose = opts.propose;
    this.clock = opts.clock ?? SYSTEM_CLOCK;
    this.log = opts.logger ?? SILENT_LOG;
  }

  get isRunning(): boolean {
    return this.running;
  }
}
