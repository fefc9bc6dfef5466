// Three real in-process Raft drivers over loopback TCP (file storage, the test KV machine, a
// snapshot every 20 entries, no compaction margin) and one follower left behind: cut off at the
// leader while the leader grows its log and compacts past the follower's last entry, so only a
// snapshot can bring it back. The test heals the link and watches what the leader sends.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RaftDriver, type RaftDriverOptions } from "../../../config/raft/driver.js";
import { SEED } from "../prng.js";
import { waitFor } from "../wait.js";
import { testDriverOptions } from "./driver-options.js";
import { KvStateMachine, kvCommand } from "./kv-state-machine.js";
import { loopbackPeers } from "./loopback-fleet.js";

export const HEARTBEAT_MS = 50;
export const ELECTION_MS = 3000;

export interface BehindFollower {
  leaderId: string;
  leader: RaftDriver;
  behindId: string;
  behind: RaftDriver;
  /** The follower's last index when it was cut off: the leader's log now starts past it. */
  behindLast: number;
}

export class BehindFollowerTrio {
  readonly ids = ["a", "b", "c"];
  readonly drivers = new Map<string, RaftDriver>();
  readonly machines = new Map<string, KvStateMachine>();
  private readonly root: string;

  /** `name` names the data directory; `transport` adds to every node's transport options. */
  constructor(
    name: string,
    private readonly secret: string,
    private readonly transport: RaftDriverOptions["transport"] = {},
  ) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), `sg-${name}-`));
  }

  /**
   * Starts the three, waits for a leader replicating to a follower, cuts that follower off at the
   * leader, runs `grow` on the leader, and waits until the leader's log starts past the follower's.
   */
  async start(note: string, grow: (leader: RaftDriver) => Promise<void>): Promise<BehindFollower> {
    const peers = await loopbackPeers(this.ids);
    for (const id of this.ids) {
      const sm = new KvStateMachine();
      this.machines.set(id, sm);
      this.drivers.set(
        id,
        new RaftDriver(
          testDriverOptions(this.root, this.secret, id, peers, {
            stateMachine: sm,
            bootstrap: this.ids,
            seed: SEED,
            heartbeatMs: HEARTBEAT_MS,
            electionMs: ELECTION_MS,
            requestTimeoutMs: 60_000,
            snapshotEvery: 20,
            compactMargin: 0,
            transport: { backoffMinMs: 10, backoffMaxMs: 200, ...this.transport },
          }),
        ),
      );
    }
    await Promise.all([...this.drivers.values()].map((d) => d.start()));
    const all = [...this.drivers.values()];
    await waitFor(() => all.some((d) => d.status().role === "leader"), `a leader (${note})`, 60_000);
    const leaderId = this.ids.find((id) => this.drivers.get(id)?.status().role === "leader") as string;
    const leader = this.drivers.get(leaderId) as RaftDriver;
    const behindId = this.ids.find((id) => id !== leaderId) as string;
    const behind = this.drivers.get(behindId) as RaftDriver;
    await leader.propose(kvCommand("warm", "up"));
    await waitFor(
      () => leader.status().peers[behindId]?.state === "replicate",
      `the leader pipelines to ${behindId} (${note})`,
      60_000,
    );
    // Cut off (both ways, at the leader) while the leader's log is compacted past it.
    leader.transport.cut(behindId);
    const behindLast = behind.status().lastIndex;
    await grow(leader);
    await waitFor(
      () => leader.status().firstIndex > behindLast + 1,
      `the leader compacted past ${behindId}'s last ${behindLast} (${note})`,
      60_000,
    );
    return { leaderId, leader, behindId, behind, behindLast };
  }

  /** Stops every driver and removes the data directory. */
  async stop(): Promise<void> {
    for (const d of this.drivers.values()) await d.stop();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
