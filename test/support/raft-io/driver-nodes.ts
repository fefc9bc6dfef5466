// Real in-process Raft drivers a test file runs over loopback TCP, each with its state machine
// (the test KV map or a subclass) and the warnings it logged; the set of those not stopped yet,
// so the file's after() stops whatever a failed test left running.

import type { RaftDriverOptions } from "../../../config/raft/driver.js";
import { RaftDriver } from "../../../config/raft/driver.js";
import { testDriverOptions } from "./driver-options.js";
import type { KvStateMachine } from "./kv-state-machine.js";

export interface DriverNode<K extends KvStateMachine = KvStateMachine> {
  d: RaftDriver;
  kv: K;
  /** What the driver passed to onWarning, in order. */
  warnings: string[];
}

export class DriverNodes {
  private readonly running = new Set<RaftDriver>();

  constructor(private readonly secret: string) {}

  /** A driver (not started) for `id` with data under `dir`, testDriverOptions plus `extra`. */
  node<K extends KvStateMachine>(
    dir: string,
    id: string,
    peers: Record<string, string>,
    kv: K,
    extra: Partial<RaftDriverOptions> = {},
  ): DriverNode<K> {
    const warnings: string[] = [];
    const d = new RaftDriver(
      testDriverOptions(dir, this.secret, id, peers, {
        stateMachine: kv,
        onWarning: (m) => warnings.push(m),
        ...extra,
      }),
    );
    this.running.add(d);
    return { d, kv, warnings };
  }

  async stop(n: DriverNode<KvStateMachine>): Promise<void> {
    await n.d.stop();
    this.running.delete(n.d);
  }

  /** A driver whose start was refused: it runs nothing, so after() has nothing to stop. */
  forget(n: DriverNode<KvStateMachine>): void {
    this.running.delete(n.d);
  }

  /** Stops every driver not stopped yet (for after()). */
  async stopAll(): Promise<void> {
    for (const d of this.running) await d.stop();
    this.running.clear();
  }
}
