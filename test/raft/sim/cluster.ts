// A deterministic simulated Raft cluster: RaftNodes over a SimNetwork, each with a MemoryStorage
// that stands for its disk. A node's Ready is handled per the contract (persist, send, apply,
// advance), sometimes later than it was taken ("slow fsync"); a crash discards the RaftNode and
// any Ready not yet handled, keeping only the storage — so unsynced writes are lost. A slow
// Ready is handled the way the real driver handles it (core/ready.ts relaxations a and b): the
// requests it may send before the sync (a leader's appends and heartbeats, forwarded proposals)
// leave and its committed entries are applied at once, and only the rest waits for the "fsync".
// Every step feeds the InvariantChecker.
import type { Message, RaftConfig, ReadState, Ready } from "../../../config/raft/core/index.js";
import {
  canSendBeforeSync,
  MemoryStorage,
  Prng,
  RaftNode,
  sentBeforeSync,
} from "../../../config/raft/core/index.js";
import type { ConfState, Entry } from "../../../config/raft/types.js";
import { bytesKey, InvariantChecker } from "./invariants.js";
import { decodeCommand, KvStateMachine } from "./kv.js";
import { type NetOptions, RELIABLE, SimNetwork, TICK } from "./network.js";

export interface SimOptions {
  /** Every node that may ever exist. */
  readonly ids: readonly string[];
  /** The bootstrap membership; other ids start with an empty membership (joining nodes). */
  readonly voters: readonly string[];
  readonly learners?: readonly string[];
  readonly seed: number;
  readonly net?: NetOptions;
  readonly raft?: Partial<Omit<RaftConfig, "id" | "storage" | "seed" | "applied">>;
  /** Compact a node's log once it applied this many entries past its snapshot (0 = never). */
  readonly compactEvery?: number;
  /** Probability that a Ready is handled up to a tick later (window in which a crash loses it). */
  readonly slowFsync?: number;
  readonly trace?: boolean;
}

export interface SimNode {
  readonly id: string;
  readonly storage: MemoryStorage;
  raft: RaftNode | null;
  sm: KvStateMachine;
  applied: number;
  /** Highest index this node ever applied, across restarts. */
  everApplied: number;
  incarnation: number;
  /** A Ready waiting for its "fsync"; `early` when its early requests and applies already happened. */
  deferred: { rd: Ready; at: number; early: boolean } | null;
  leaderTerm: number;
}

export type ApplyHook = (id: string, e: Entry) => void;
export type ReadHook = (id: string, rs: ReadState) => void;

export class SimCluster {
  now = 0;
  readonly rng: Prng;
  readonly net: SimNetwork;
  readonly check = new InvariantChecker();
  readonly nodes = new Map<string, SimNode>();
  readonly traceLines: string[] = [];
  /** Event counts, to show what a run actually exercised. */
  readonly stats = {
    crashes: 0,
    lostReadies: 0,
    snapshotsInstalled: 0,
    confChanges: 0,
    readStates: 0,
    /** Appends carrying entries that a leader sent before its own slow "fsync" of them. */
    earlyAppends: 0,
  };
  onApply: ApplyHook | null = null;
  onRead: ReadHook | null = null;
  /** Called after every applied entry or restored snapshot (lets clients complete reads). */
  onAdvance: ((id: string) => void) | null = null;
  private readonly opts: SimOptions;
  private maxConfIndex = 0;
  /** Clock rate per node: 2 ticks twice per TICK, 0.5 once every other TICK (skewed clocks). */
  private readonly rate = new Map<string, number>();
  private tickCount = 0;
  /** Paused processes (GC, SIGSTOP): no ticks, and messages wait in their socket until then. */
  private readonly pausedUntil = new Map<string, number>();
  private held: Message[] = [];

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.rng = new Prng(opts.seed);
    this.net = new SimNetwork(new Prng(opts.seed ^ 0x5bd1e995), opts.net ?? RELIABLE);
    if (opts.trace) this.net.onDrop = (m, why) => this.trace(`drop ${fmtMsg(m)} (${why})`);
    const boot: ConfState = { voters: [...opts.voters].sort(), learners: [...(opts.learners ?? [])].sort() };
    for (const id of opts.ids) {
      const member = boot.voters.includes(id) || boot.learners.includes(id);
      const storage = new MemoryStorage(member ? boot : undefined);
      const n: SimNode = {
        id,
        storage,
        raft: null,
        sm: new KvStateMachine(),
        applied: 0,
        everApplied: 0,
        incarnation: 0,
        deferred: null,
        leaderTerm: 0,
      };
      this.nodes.set(id, n);
      this.start(n);
    }
  }

  private start(n: SimNode): void {
    n.incarnation++;
    const snap = n.storage.snapshot();
    n.sm = KvStateMachine.restore(snap.data);
    n.applied = snap.meta.index;
    n.deferred = null;
    n.leaderTerm = 0;
    n.raft = new RaftNode({
      electionTick: 10,
      heartbeatTick: 1,
      ...this.opts.raft,
      id: n.id,
      storage: n.storage,
      seed: this.opts.seed * 31 + n.incarnation,
      applied: snap.meta.index,
    });
  }

  node(id: string): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  trace(line: string): void {
    if (this.opts.trace) this.traceLines.push(`[${(this.now / TICK).toFixed(1).padStart(6)}] ${line}`);
  }

  describe(n: SimNode): string {
    if (!n.raft) return `${n.id} down`;
    const s = n.raft.status();
    return `${n.id} ${s.role} t${s.term} last=${s.lastIndex} commit=${s.commit} applied=${n.applied}${s.lead ? ` lead=${s.lead}` : ""}`;
  }

  // ---------------------------------------------------------------- time

  /** Advances one sim unit: due messages, due deferred Readies, and a tick every TICK units. */
  stepUnit(): void {
    this.now++;
    if (this.pausedUntil.size > 0) {
      for (const [id, until] of this.pausedUntil) {
        if (until > this.now) continue;
        this.pausedUntil.delete(id);
        this.trace(`resume ${id}`);
        const mine = this.held.filter((m) => m.to === id);
        this.held = this.held.filter((m) => m.to !== id);
        for (const m of mine) this.deliver(m);
      }
    }
    for (const m of this.net.due(this.now)) this.deliver(m);
    for (const n of this.nodes.values()) {
      if (n.deferred && n.deferred.at <= this.now) {
        const { rd, early } = n.deferred;
        n.deferred = null;
        this.handleReady(n, rd, early);
        this.processReady(n);
      }
    }
    if (this.now % TICK === 0) {
      if (this.opts.trace) {
        this.trace(`tick | ${[...this.nodes.values()].map((n) => this.describe(n)).join(" | ")}`);
      }
      this.tickCount++;
      for (const n of this.nodes.values()) {
        if (!n.raft || this.pausedUntil.has(n.id)) continue;
        if (!n.deferred && !n.raft.hasReady()) this.check.checkConf(n.id, n.raft, n.storage);
        const rate = this.rate.get(n.id) ?? 1;
        if (rate < 1 && this.tickCount % 2 === 1) continue;
        n.raft.tick();
        if (rate > 1) n.raft.tick();
        this.afterInput(n);
      }
    }
  }

  runTicks(ticks: number): void {
    for (let i = 0; i < ticks * TICK; i++) this.stepUnit();
  }

  /** Runs until `pred` holds (checked each unit) or `maxTicks` pass; returns whether it held. */
  runUntil(pred: () => boolean, maxTicks: number): boolean {
    for (let i = 0; i < maxTicks * TICK; i++) {
      if (pred()) return true;
      this.stepUnit();
    }
    return pred();
  }

  private deliver(m: Message): void {
    const n = this.nodes.get(m.to);
    if (!n?.raft) return;
    if (this.pausedUntil.has(m.to)) {
      this.held.push(m);
      return;
    }
    this.trace(`deliver ${fmtMsg(m)} | ${this.describe(n)}`);
    n.raft.step(m);
    this.afterInput(n);
  }

  /** After any input to a node: check election safety and completeness, then handle its Readies. */
  afterInput(n: SimNode): void {
    const raft = n.raft;
    if (!raft) return;
    const s = raft.status();
    if (s.role === "leader") {
      this.check.checkLeader(n.id, s.term);
      if (n.leaderTerm !== s.term) {
        n.leaderTerm = s.term;
        this.trace(`leader ${this.describe(n)}`);
        this.check.checkLeaderCompleteness(n.id, raft);
      }
    }
    this.processReady(n);
  }

  processReady(n: SimNode): void {
    const raft = n.raft;
    while (raft && n.raft === raft && !n.deferred && raft.hasReady()) {
      const rd = raft.ready();
      if (this.opts.slowFsync && this.rng.next() < this.opts.slowFsync) {
        const early = canSendBeforeSync(rd, n.storage.initialState().hardState);
        if (early) {
          for (const m of rd.messages) {
            if (!sentBeforeSync.has(m.type)) continue;
            if (m.type === "app" && m.entries.length > 0) this.stats.earlyAppends++;
            this.net.send(m, this.now);
          }
          this.applyCommitted(n, rd);
        }
        n.deferred = { rd, at: this.now + 1 + this.rng.int(TICK), early };
        return;
      }
      this.handleReady(n, rd, false);
    }
  }

  /** Handles `rd`; `early` when its early requests were sent and its entries applied already. */
  private handleReady(n: SimNode, rd: Ready, early: boolean): void {
    const raft = n.raft;
    if (!raft) return;
    // 1. persist
    if (rd.snapshot) {
      n.storage.applySnapshot(rd.snapshot);
      this.check.onPersistSnapshot(n.id, rd.snapshot);
      this.stats.snapshotsInstalled++;
      this.trace(`${n.id} persist snapshot @${rd.snapshot.meta.index} t${rd.snapshot.meta.term}`);
    }
    if (rd.entries.length > 0) {
      n.storage.append(rd.entries);
      this.check.onPersistEntries(n.id, n.storage, rd.entries);
    }
    if (rd.hardState) {
      n.storage.setHardState(rd.hardState);
      this.check.onHardState(n.id, rd.hardState);
    }
    // 2. send
    for (const m of rd.messages) if (!early || !sentBeforeSync.has(m.type)) this.net.send(m, this.now);
    // 3. apply
    if (!early) this.applyCommitted(n, rd);
    // 4. advance
    raft.advance(rd);
    const every = this.opts.compactEvery ?? 0;
    if (every > 0 && n.applied - (n.storage.firstIndex() - 1) >= every) {
      // As the driver's takeSnapshot: the snapshot keeps what this node retired (a restart forgets none).
      n.storage.compact(n.applied, n.sm.snapshot(), raft.retiredAt(n.applied));
      this.trace(`${n.id} compact @${n.applied}`);
    }
  }

  /** Applies `rd`'s snapshot (if any), committed entries and read states. */
  private applyCommitted(n: SimNode, rd: Ready): void {
    if (rd.snapshot) {
      n.sm = KvStateMachine.restore(rd.snapshot.data);
      n.applied = rd.snapshot.meta.index;
      n.everApplied = Math.max(n.everApplied, n.applied);
      this.onAdvance?.(n.id);
    }
    for (const e of rd.committedEntries) {
      this.check.onApply(n.id, e, n.applied, n.raft?.status().term);
      if (e.type === "conf" && e.index > n.everApplied && e.index > this.maxConfIndex) {
        this.maxConfIndex = e.index;
        this.stats.confChanges++;
      }
      n.applied = e.index;
      n.everApplied = Math.max(n.everApplied, e.index);
      if (e.type === "normal" && e.data.length > 0 && e.data[0] === 0x7b /* "{" */) {
        n.sm.apply(decodeCommand(e.data));
      }
      this.onApply?.(n.id, e);
    }
    if (rd.committedEntries.length > 0) {
      this.trace(`${n.id} apply ${rd.committedEntries[0].index}..${n.applied}`);
      this.onAdvance?.(n.id);
    }
    this.stats.readStates += rd.readStates.length;
    for (const rs of rd.readStates) this.onRead?.(n.id, rs);
  }

  // ---------------------------------------------------------------- faults

  /** Sets node `id`'s clock rate (0.5, 1 or 2 ticks per TICK). */
  setClockRate(id: string, rate: number): void {
    this.trace(`clock ${id} x${rate}`);
    if (rate === 1) this.rate.delete(id);
    else this.rate.set(id, rate);
  }

  /** Pauses node `id` for `ticks` ticks (no ticks, no message handling; nothing is lost). */
  pause(id: string, ticks: number): void {
    this.trace(`pause ${id} for ${ticks} ticks`);
    this.pausedUntil.set(id, this.now + ticks * TICK);
  }

  cutOneWay(from: string, to: string): void {
    this.trace(`cut one way ${from} -> ${to}`);
    this.net.cutOneWay(from, to);
  }

  crash(id: string): void {
    const n = this.node(id);
    if (!n.raft) return;
    this.trace(`crash ${this.describe(n)}${n.deferred ? " (loses an unsynced Ready)" : ""}`);
    this.stats.crashes++;
    if (n.deferred) this.stats.lostReadies++;
    n.raft = null;
    n.deferred = null;
  }

  restart(id: string): void {
    const n = this.node(id);
    if (n.raft) this.crash(id);
    this.start(n);
    this.trace(`restart ${this.describe(n)}`);
  }

  isUp(id: string): boolean {
    return this.node(id).raft !== null;
  }

  disconnect(id: string): void {
    this.trace(`disconnect ${id}`);
    this.net.disconnect(id);
  }

  connect(id: string): void {
    this.trace(`connect ${id}`);
    this.net.connect(id);
  }

  partition(groups: readonly (readonly string[])[]): void {
    this.trace(`partition ${groups.map((g) => `[${g.join(",")}]`).join(" ")}`);
    this.net.partition(groups);
  }

  /**
   * Ends the network faults and the clock skew (a node ticking twice as fast with a stale log
   * keeps every election timer reset when pre-vote is off: a known Raft liveness limit, not a
   * safety one, so the recovery phase runs with even clocks).
   */
  heal(): void {
    this.trace("heal");
    this.net.heal();
    this.rate.clear();
  }

  // ---------------------------------------------------------------- queries

  /** The leader with the highest term among live, connected nodes, if any. */
  leader(): string | null {
    let best: string | null = null;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (!n.raft || !this.net.isConnected(n.id)) continue;
      const s = n.raft.status();
      if (s.role === "leader" && s.term > bestTerm) {
        best = n.id;
        bestTerm = s.term;
      }
    }
    return best;
  }

  /** How many nodes ever applied `index`, and the data committed there. */
  nCommitted(index: number): { count: number; data: string | undefined } {
    let count = 0;
    for (const n of this.nodes.values()) if (n.everApplied >= index) count++;
    return { count, data: this.check.committed.get(index)?.data };
  }

  /** 6.824's one(): propose `cmd` via a leader until it is applied by `expected` nodes. Returns the index or -1. */
  one(cmd: Uint8Array, expected: number, maxTicks = 100): number {
    const want = bytesKey(cmd);
    const deadline = this.now + maxTicks * TICK;
    while (this.now < deadline) {
      const l = this.leader();
      let index = -1;
      if (l) {
        try {
          index = this.node(l).raft!.propose(cmd).index;
          this.afterInput(this.node(l));
        } catch {
          index = -1;
        }
      }
      if (index > 0) {
        const until = Math.min(deadline, this.now + 20 * TICK);
        while (this.now < until) {
          const c = this.nCommitted(index);
          if (c.count >= expected && c.data === want) return index;
          if (c.data !== undefined && c.data !== want) break;
          this.stepUnit();
        }
      } else {
        this.runTicks(5);
      }
    }
    return -1;
  }
}

export function fmtMsg(m: Message): string {
  let s = `${m.type} ${m.from}->${m.to} t${m.term}`;
  if (m.type === "app") s += ` prev=${m.index}/${m.logTerm} n=${m.entries.length} commit=${m.commit}`;
  else if (m.type === "appResp")
    s += m.reject ? ` REJECT ${m.index} hint=${m.rejectHint}/${m.logTerm}` : ` ok ${m.index}`;
  else if (m.type === "vote" || m.type === "preVote")
    s += ` last=${m.index}/${m.logTerm}${m.force ? " force" : ""}`;
  else if (m.type.endsWith("Resp") && m.reject) s += " REJECT";
  else if (m.type === "heartbeat") s += ` commit=${m.commit}`;
  else if (m.type === "snap" && m.snapshot) s += ` @${m.snapshot.meta.index}`;
  return s;
}
