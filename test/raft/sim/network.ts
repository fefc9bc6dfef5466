// A seeded, simulated network for Raft tests (after MIT 6.824's labrpc and etcd's raft_test
// network): per-message random delay (which also reorders), drops, duplicates, rare long
// delays, per-node disconnects and arbitrary partitions. Time is in sim units (see TICK).
import type { Message, Prng } from "../../../config/raft/core/index.js";

/** Sim time units per Raft tick. */
export const TICK = 10;

export interface NetOptions {
  /** Probability a message is lost. */
  drop: number;
  /** Probability a message is delivered twice. */
  duplicate: number;
  /** Delay is uniform in [minDelay, maxDelay] units. */
  minDelay: number;
  maxDelay: number;
  /** Probability of a long delay in [maxDelay, longDelay] (6.824's "long reordering"). */
  longReorder: number;
  longDelay: number;
}

export const RELIABLE: NetOptions = {
  drop: 0,
  duplicate: 0,
  minDelay: 1,
  maxDelay: 5,
  longReorder: 0,
  longDelay: 0,
};

export const UNRELIABLE: NetOptions = {
  drop: 0.1,
  duplicate: 0.02,
  minDelay: 1,
  maxDelay: 12,
  longReorder: 0,
  longDelay: 0,
};

interface InFlight {
  readonly at: number;
  readonly seq: number;
  readonly m: Message;
}

export class SimNetwork {
  opts: NetOptions;
  private queue: InFlight[] = [];
  private seq = 0;
  /** Nodes cut off from everyone (6.824's disconnect). */
  private readonly disconnected = new Set<string>();
  /** Partition group per node; nodes in different groups cannot talk. Empty = no partition. */
  private group = new Map<string, number>();
  /** One-way cuts "from>to": from's messages to `to` are lost, the other direction works. */
  private readonly oneWay = new Set<string>();
  sent = 0;
  dropped = 0;
  /** Trace hook for lost messages. */
  onDrop: ((m: Message, why: string) => void) | null = null;
  readonly sentByType = new Map<string, number>();

  constructor(
    private readonly rng: Prng,
    opts: NetOptions = RELIABLE,
  ) {
    this.opts = { ...opts };
  }

  canTalk(a: string, b: string): boolean {
    if (this.disconnected.has(a) || this.disconnected.has(b)) return false;
    if (this.oneWay.size > 0 && this.oneWay.has(`${a}>${b}`)) return false;
    const ga = this.group.get(a);
    const gb = this.group.get(b);
    return ga === undefined || gb === undefined || ga === gb;
  }

  disconnect(id: string): void {
    this.disconnected.add(id);
  }

  connect(id: string): void {
    this.disconnected.delete(id);
  }

  isConnected(id: string): boolean {
    return !this.disconnected.has(id);
  }

  /** Splits nodes into groups that can only talk within themselves. */
  partition(groups: readonly (readonly string[])[]): void {
    this.group = new Map();
    groups.forEach((g, i) => {
      for (const id of g) this.group.set(id, i);
    });
  }

  /** Loses every message from `from` to `to` (an asymmetric link failure). */
  cutOneWay(from: string, to: string): void {
    this.oneWay.add(`${from}>${to}`);
  }

  heal(): void {
    this.group = new Map();
    this.disconnected.clear();
    this.oneWay.clear();
  }

  send(m: Message, now: number): void {
    this.sent++;
    this.sentByType.set(m.type, (this.sentByType.get(m.type) ?? 0) + 1);
    if (!this.canTalk(m.from, m.to)) {
      this.dropped++;
      this.onDrop?.(m, "partitioned");
      return;
    }
    if (this.rng.next() < this.opts.drop) {
      this.dropped++;
      this.onDrop?.(m, "lost");
      return;
    }
    this.enqueue(m, now);
    if (this.opts.duplicate > 0 && this.rng.next() < this.opts.duplicate) this.enqueue(m, now);
  }

  private enqueue(m: Message, now: number): void {
    const o = this.opts;
    let delay = o.minDelay + this.rng.int(o.maxDelay - o.minDelay + 1);
    if (o.longReorder > 0 && this.rng.next() < o.longReorder) {
      delay = o.maxDelay + this.rng.int(Math.max(1, o.longDelay - o.maxDelay));
    }
    this.queue.push({ at: now + delay, seq: this.seq++, m });
  }

  /** Removes and returns the messages due at or before `now`, in delivery order. */
  due(now: number): Message[] {
    if (this.queue.length === 0) return [];
    const ready: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.queue) (f.at <= now ? ready : rest).push(f);
    if (ready.length === 0) return [];
    this.queue = rest;
    ready.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const out: Message[] = [];
    // Links are checked again at delivery: a partition drops what is already on the wire.
    for (const f of ready) {
      if (this.canTalk(f.m.from, f.m.to)) out.push(f.m);
      else {
        this.dropped++;
        this.onDrop?.(f.m, "partitioned in flight");
      }
    }
    return out;
  }

  get inFlight(): number {
    return this.queue.length;
  }

  resetCounters(): void {
    this.sent = 0;
    this.dropped = 0;
    this.sentByType.clear();
  }
}
