// Three real Raft drivers (a, b, c) over real TCP on loopback, with a 256 KiB transport frame
// limit, so the cluster state bound (defaultMaxStateBytes(FRAME)) is reached in a few proposals.
// The test gives each node its state machine; the trio owns the data directory, the peers, the
// drivers, and stops them all (register `after(() => trio.stop())`).

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { RaftDriverOptions, StateMachine } from "../../config/raft/driver/options.js";
import { RaftDriver } from "../../config/raft/driver.js";
import { ClusterStateMachine } from "../../config/state/state-machine.js";
import { loopbackPeers } from "./raft-io/loopback-fleet.js";
import { waitFor } from "./wait.js";

/** The transport's frame limit in every trio. */
export const FRAME = 256 * 1024;

export class BoundedRaftTrio {
  readonly ids = ["a", "b", "c"];
  readonly drivers = new Map<string, RaftDriver>();
  private readonly root: string;
  private peers: Record<string, string> | undefined;

  /**
   * `name` names the data directory and the secret; `extra` adds driver options (snapshot and
   * compaction settings) to every node's.
   */
  constructor(
    private readonly name: string,
    private readonly seed: number,
    private readonly extra: Partial<RaftDriverOptions> = {},
  ) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), `sg-${name}-`));
  }

  /** Builds node `id`'s driver over `stateMachine` (replacing any stopped one); not started. */
  make(id: string, stateMachine: StateMachine): RaftDriver {
    if (this.peers === undefined) throw new Error("the trio has no ports yet: call start() first");
    const d = new RaftDriver({
      id,
      dataDir: this.dataDir(id),
      secret: `${this.name}-test-secret-0123456789`,
      peers: this.peers,
      stateMachine,
      heartbeatMs: 50,
      electionMs: 1000,
      fsync: false,
      seed: this.seed,
      bootstrap: this.ids,
      requestTimeoutMs: 60_000,
      ...this.extra,
      transport: { maxFrameBytes: FRAME },
    });
    this.drivers.set(id, d);
    return d;
  }

  /** Node `id`'s data directory (its WAL and snapshots). */
  dataDir(id: string): string {
    return path.join(this.root, id);
  }

  /** Picks the ports, builds and starts the three nodes, waits for a leader; returns its id. */
  async start(machineFor: (id: string) => StateMachine, note: string): Promise<string> {
    this.peers = await loopbackPeers(this.ids);
    for (const id of this.ids) this.make(id, machineFor(id));
    await Promise.all([...this.drivers.values()].map((d) => d.start()));
    await waitFor(() => this.leaderId() !== undefined, `a leader (${note})`, 60_000);
    return this.leaderId() as string;
  }

  /** start() with a plain cluster state machine on each node; returns them and the leader's id. */
  async startWithClusterMachines(
    note: string,
  ): Promise<{ leaderId: string; machines: Map<string, ClusterStateMachine> }> {
    const machines = new Map<string, ClusterStateMachine>();
    const leaderId = await this.start((id) => {
      const sm = new ClusterStateMachine({ onApply: () => {}, onRestore: () => {} });
      machines.set(id, sm);
      return sm;
    }, note);
    return { leaderId, machines };
  }

  /** The id of a node that believes it leads, if any. */
  leaderId(): string | undefined {
    return this.ids.find((id) => this.drivers.get(id)?.status().role === "leader");
  }

  driver(id: string): RaftDriver {
    const d = this.drivers.get(id);
    if (d === undefined) throw new Error(`no running driver ${id}`);
    return d;
  }

  /** Stops node `id` and forgets its driver (its data directory stays, for a restart). */
  async stopNode(id: string): Promise<void> {
    await this.driver(id).stop();
    this.drivers.delete(id);
  }

  /** Stops every driver and removes the data directory. */
  async stop(): Promise<void> {
    for (const d of this.drivers.values()) await d.stop();
    this.drivers.clear();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
