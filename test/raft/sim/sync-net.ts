// A synchronous network for focused unit tests (after etcd-io/raft's raft_test.go `network`):
// stabilize() handles every Ready and delivers every message until the cluster is quiet.
// isolate/cut/recover and a message filter shape what gets through. Deterministic.

import {
  MemoryStorage,
  type Message,
  type RaftConfig,
  RaftNode,
  type ReadState,
} from "../../../config/raft/core/index.js";
import type { ConfState, Entry } from "../../../config/raft/types.js";
import { testSeed } from "../../support/prng.js";

/**
 * The nodes' election-timeout seed (a restart draws SEED + 1): TEST_SEED sets it, 7 by default.
 * A failing file prints it and the re-run command (test/support/prng.ts).
 */
const SEED = testSeed(7);

export interface SyncNode {
  readonly id: string;
  readonly storage: MemoryStorage;
  raft: RaftNode;
  readonly applied: Entry[];
  readonly readStates: ReadState[];
}

export class SyncNet {
  readonly nodes = new Map<string, SyncNode>();
  private readonly cuts = new Set<string>();
  /** Return false to drop a message. */
  filter: ((m: Message) => boolean) | null = null;
  /** Every message delivered, in order. */
  readonly delivered: Message[] = [];

  constructor(
    ids: readonly string[],
    conf: ConfState,
    private readonly raftOpts: Partial<RaftConfig> = {},
  ) {
    for (const id of ids) {
      const member = conf.voters.includes(id) || conf.learners.includes(id);
      this.add(id, member ? conf : undefined);
    }
  }

  /** Adds node `id` (a member of `conf`, or empty) whose data directory is `incarnation`. */
  add(id: string, conf?: ConfState, incarnation = ""): SyncNode {
    const storage = new MemoryStorage(conf);
    const n: SyncNode = {
      id,
      storage,
      raft: new RaftNode({
        electionTick: 10,
        heartbeatTick: 1,
        ...this.raftOpts,
        id,
        storage,
        seed: SEED,
        incarnation,
      }),
      applied: [],
      readStates: [],
    };
    this.nodes.set(id, n);
    return n;
  }

  get(id: string): RaftNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n.raft;
  }

  /** Restarts a node from its storage (volatile state lost). */
  restart(id: string): void {
    const n = this.nodes.get(id)!;
    n.raft = new RaftNode({
      incarnation: n.raft.status().incarnation,
      electionTick: 10,
      heartbeatTick: 1,
      ...this.raftOpts,
      id,
      storage: n.storage,
      seed: SEED + 1,
      applied: n.storage.firstIndex() - 1,
    });
  }

  /** Node `id` lost its disk: it restarts empty as data directory `incarnation`. */
  loseDisk(id: string, incarnation: string): void {
    this.add(id, undefined, incarnation);
  }

  isolate(id: string): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  cut(a: string, b: string): void {
    this.cuts.add(`${a}>${b}`);
    this.cuts.add(`${b}>${a}`);
  }

  recover(): void {
    this.cuts.clear();
    this.filter = null;
  }

  /** Handles Readies and delivers messages until nothing is left (bounded). */
  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      const msgs: Message[] = [];
      for (const n of this.nodes.values()) {
        while (n.raft.hasReady()) {
          const rd = n.raft.ready();
          if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
          n.storage.append(rd.entries);
          if (rd.hardState) n.storage.setHardState(rd.hardState);
          msgs.push(...rd.messages);
          n.applied.push(...rd.committedEntries);
          n.readStates.push(...rd.readStates);
          n.raft.advance(rd);
        }
      }
      if (msgs.length === 0) return;
      for (const m of msgs) this.deliver(m);
    }
    throw new Error(`network did not stabilize within ${maxRounds} rounds`);
  }

  deliver(m: Message): void {
    if (this.cuts.has(`${m.from}>${m.to}`)) return;
    if (this.filter && !this.filter(m)) return;
    const n = this.nodes.get(m.to);
    if (!n) return;
    this.delivered.push(m);
    n.raft.step(m);
  }

  /** Ticks every node `n` times, stabilizing after each tick. */
  tick(n: number, only?: readonly string[]): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) if (!only || only.includes(node.id)) node.raft.tick();
      this.stabilize();
    }
  }

  /** Makes `id` campaign and runs until quiet. */
  elect(id: string): void {
    this.get(id).campaign();
    this.stabilize();
  }

  leader(): string | null {
    let best: string | null = null;
    let term = -1;
    for (const n of this.nodes.values()) {
      const s = n.raft.status();
      if (s.role === "leader" && s.term > term) {
        term = s.term;
        best = n.id;
      }
    }
    return best;
  }

  /** Data (as text) of the normal, non-empty entries `id` applied. */
  appliedText(id: string): string[] {
    return this.nodes
      .get(id)!
      .applied.filter((e) => e.type === "normal" && e.data.length > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
