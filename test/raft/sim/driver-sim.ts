// The driver simulator (issue 9): a deterministic cluster whose nodes run the PRODUCTION Ready
// loop (config/raft/driver/ready-loop.ts) over the PRODUCTION FileStorage, itself on the
// in-memory page-cache file system (test/raft-io/mem-fs.ts). Only the edges are simulated: the
// network (SimNetwork, with the real message codec on every send), the clock (ticks, skewed
// rates, pauses) and the disk's timing (an fsync completes at a sim time of our choosing).
//
// Everything asynchronous in the loop and the storage is routed through this class's queues
// (the loop's deferral, MemFs.defer for fsync completions), and after each batch of events one
// macrotask turn lets every promise chain run to its next await: runs are deterministic per seed.
//
// Crashes: crash() takes a disk image at an idle instant (kill -9 keeps the page cache, power
// loss only what was synced, optionally with torn appends, or with each file's unsynced writes
// on disk up to a random byte independently of the others, and directory operations a prefix); arm() makes the node die just
// before its k-th next file operation (so inside a conflict truncation, a snapshot install, a
// segment roll or a group commit). A dead process's later callbacks are dropped (generation
// check). loseDisk() restarts a node on an empty data directory under a new incarnation: the
// leader's core replaces it (config/raft/core: the configuration names incarnations), and no
// message of the dead process is purged from the network (its late acks must not count).
//
// Cluster identity (`clusterIds`, with feature levels): every node derives its cluster id as
// the driver does (the committed entry that first raises the level to LEVEL_CLUSTER_ID, or a
// snapshot's "@cluster") and keeps it across crashes (identity.json), not across a lost disk.
// Every delivery passes the transport's handshake rule (transport/cluster-check.ts). A second
// cluster of the same ids (a copied config: same secret, same node ids) can be linked as
// `foreign`: a share of the messages (`misroute`) then reaches its node of the same id
// instead, as when a peer address names a machine of the other fleet; the handshake must
// refuse each. moveIn() restarts a node on a copy of the other cluster's node's data directory
// (a directory moved between fleets): it holds the other cluster's id, the handshake must keep
// it apart from its new peers in both directions, and its own log is checked by a checker of
// its own (it is another cluster's). Not modelled: such a copy talking to the cluster it was
// copied from (a clone of a member, which no cluster id can tell apart).
import {
  BOOTSTRAP_HARD_STATE,
  bootstrapSnapshot,
  CURRENT_LEVEL,
  decodeMessages,
  incarnationIn,
  LEVEL_CLUSTER_ID,
  type Message,
  Prng,
  type RaftConfig,
  RaftNode,
  type ReadState,
} from "../../../config/raft/core/index.js";
import { deriveClusterId } from "../../../config/raft/driver/cluster-identity.js";
import {
  decodeLevel,
  ENTRY_HEADER,
  type EntryHeader,
  encodeLevel,
  KIND_LEVEL,
  readEntryHeader,
  unwrapSnapshot,
  wrapEntry,
} from "../../../config/raft/driver/envelope.js";
import { ReadyLoop, type ReadyStorage } from "../../../config/raft/driver/ready-loop.js";
import { takeSnapshot } from "../../../config/raft/driver/snapshots.js";
import { FileStorage } from "../../../config/raft/storage/index.js";
import { helloClusterRefusal } from "../../../config/raft/transport/cluster-check.js";
import type { ConfState, Entry, Snapshot } from "../../../config/raft/types.js";
import { type Image, MemFs } from "../../raft-io/mem-fs.js";
import { fmtMsg } from "./cluster.js";
import { InvariantChecker } from "./invariants.js";
import { decodeCommand, KvStateMachine } from "./kv.js";
import { type NetOptions, RELIABLE, SimNetwork, TICK } from "./network.js";

const DIR = "/data";

export type CrashKind = "process" | "power" | "powerTorn" | "powerReordered";

export interface DriverSimOptions {
  readonly ids: readonly string[];
  /** Founding voters (bootstrapped); the other ids start empty and join. */
  readonly voters: readonly string[];
  readonly seed: number;
  readonly net?: NetOptions;
  readonly raft?: Partial<Omit<RaftConfig, "id" | "storage" | "seed" | "applied" | "incarnation">>;
  /** Snapshot + compact once this many entries were applied past the last snapshot (0 = never). */
  readonly compactEvery?: number;
  /** Probability that an fsync takes up to two ticks instead of completing at once. */
  readonly slowFsync?: number;
  /** FileStorage segment size: small, so segment rolls happen all the time. */
  readonly segmentBytes?: number;
  /**
   * Mixed feature levels (a rolling upgrade): the level each node's build starts at. With it the
   * committed cluster level starts at 0 and rises as the driver raises it (tendLevel), and a
   * restart upgrades a node's build to CURRENT_LEVEL half the time. Without it every node runs
   * at CURRENT_LEVEL with the level already committed (no level entries).
   */
  readonly levels?: Readonly<Record<string, number>>;
  /** This cluster's name in traces and violations ("A", "B") when two run side by side. */
  readonly label?: string;
  /**
   * Model cluster ids (needs `levels`). Not with builds below this one's level: the simulator
   * keeps running a node that met a level above its build (the driver stops it), and the
   * snapshots it then takes carry a level below the one that fixed the id, so a node restoring
   * one would derive a second id at the next level entry (seed 175 of the mixed-level runs).
   */
  readonly clusterIds?: boolean;
  readonly trace?: boolean;
}

export interface DNode {
  readonly id: string;
  /** Bumped at every crash and start: callbacks of an older generation are a dead process's. */
  gen: number;
  starts: number;
  fs: MemFs;
  storage: FileStorage | null;
  raft: RaftNode | null;
  loop: ReadyLoop | null;
  sm: KvStateMachine;
  applied: number;
  snapIndex: number;
  everApplied: number;
  /** This data directory's incarnation ("" for a founder's; lost with the disk). */
  incarnation: string;
  /**
   * This data directory was admitted: a COMMITTED configuration names it a voter under its
   * incarnation (the fault model's "holds an admitted disk"; survives crashes, not disk loss).
   */
  admitted: boolean;
  diskLosses: number;
  /** The configuration this node last held while up (kept while it is down: its log may hold it). */
  lastConf: ConfState;
  /** The newest term this node promised durably (acked or voted in), and its vote there. */
  promisedTerm: number;
  promisedVote: string;
  leaderTerm: number;
  /** The disk a crash left (null: lost), the crash kind, and what the process had applied. */
  image: Image | null;
  crashKind: CrashKind;
  appliedAtCrash: number;
  /** The process that died (null: none, or its disk is gone): what its restart must remember. */
  raftAtCrash: RaftNode | null;
  /** File operations until an armed crash (0 = none), and its kind. */
  armed: number;
  armedKind: CrashKind;
  /** What the Ready being persisted does, to count where armed crashes land. */
  busy: { truncate: boolean; snapshot: boolean; roll: boolean };
  /** The feature level this node's build advertises, and the cluster level it applied. */
  level: number;
  clusterLevel: number;
  /**
   * The process met a cluster level above its build's (UPGRADE_REQUIRED): as the driver, it
   * applies nothing more and takes no snapshot. Met at a committed entry, it keeps its Raft role
   * (ticks, votes, replicates, heartbeats) and refuses requests; met in a snapshot, it stops.
   */
  blocked: boolean;
  /** The cluster id this data directory holds ("" until fixed; kept across crashes, not a lost disk). */
  cluster: string;
  /** The label of the cluster whose data directory this node runs on (moveIn), "" for its own. */
  alien: string;
}

class Crash extends Error {}

export class DriverSim {
  now = 0;
  readonly rng: Prng;
  readonly net: SimNetwork;
  readonly check = new InvariantChecker();
  readonly nodes = new Map<string, DNode>();
  readonly traceLines: string[] = [];
  readonly stats = {
    crashes: 0,
    armedCrashes: 0,
    crashInTruncation: 0,
    crashInSnapshotInstall: 0,
    crashInRoll: 0,
    /** Power losses with background writeback caught mid-way (files reordered, metadata a prefix). */
    powerReordered: 0,
    diskLosses: 0,
    readmitted: 0,
    /** Messages delivered from a data directory that is no longer the sender's (a dead process's). */
    staleIncarnation: 0,
    snapshotsInstalled: 0,
    snapshotsTaken: 0,
    confChanges: 0,
    transfers: 0,
    reads: 0,
    readsChecked: 0,
    /** Mixed-level runs: level entries proposed, and applied raises of a node's cluster level. */
    levelProposals: 0,
    levelRaises: 0,
    /** Nodes that met a committed level above their build's (UPGRADE_REQUIRED). */
    levelBlocks: 0,
    /** Nodes found blocked once the faults stopped, each owing it to a committed level entry. */
    blocksChecked: 0,
    upgrades: 0,
    /** Nodes that fixed their cluster id (from the level entry or a snapshot). */
    clusterIdsFixed: 0,
    /** Nodes restarted on a data directory of the other cluster (moveIn). */
    movedIn: 0,
    /** Messages between a moved-in directory and its new peers the handshake refused. */
    movedInRefused: 0,
    /** Messages between a moved-in directory and a node holding no cluster id: dropped, not modelled. */
    unprotected: 0,
    /** Messages handed to the other cluster's node of the same id, and those its handshake refused. */
    misrouted: 0,
    crossClusterRefused: 0,
  };
  /** Read states as the node's Ready delivers them; onAdvance after every applied batch. */
  onRead: ((id: string, rs: ReadState) => void) | null = null;
  onAdvance: ((id: string) => void) | null = null;
  /** Committed level entries (index -> level), as some node applied them: level-block.ts checks them. */
  readonly levelEntries = new Map<number, number>();
  /** While true, persisting a truncation, snapshot install or roll may arm a crash inside it. */
  injectFaults = true;
  /** The other cluster (same ids) that misrouted messages reach, and the share misrouted. */
  foreign: DriverSim | null = null;
  misroute = 0;
  readonly opts: DriverSimOptions;
  private immediates: (() => void)[] = [];
  private timers: { at: number; fn: () => void }[] = [];
  private readonly rate = new Map<string, number>();
  private tickCount = 0;
  private readonly pausedUntil = new Map<string, number>();
  private held: Message[] = [];
  private maxConfIndex = 0;
  /** Upgrades at restarts: their own stream, so runs without levels draw what they drew before. */
  private readonly levelRng: Prng;
  private lastLevelProposal = { node: "", term: 0, level: 0 };
  /** Misrouting draws: their own stream, so runs without a foreign cluster draw what they drew before. */
  private readonly misrouteRng: Prng;
  /** The session level entries are proposed under (a process's random session in the driver). */
  private readonly session: number;
  private readonly header: EntryHeader = { kind: 0, sessionHi: 0, sessionLo: 0, seq: 0 };
  /** Where a node on another cluster's data directory reports: its log is not this cluster's. */
  private readonly alienCheck = new InvariantChecker();

  constructor(opts: DriverSimOptions) {
    this.opts = opts;
    this.rng = new Prng(opts.seed);
    this.levelRng = new Prng(opts.seed ^ 0x1f83d9ab);
    this.misrouteRng = new Prng(opts.seed ^ 0x2545f491);
    this.session = new Prng(opts.seed ^ 0x7f4a7c15).int(2 ** 31);
    this.net = new SimNetwork(new Prng(opts.seed ^ 0x5bd1e995), opts.net ?? RELIABLE);
    if (opts.trace) this.net.onDrop = (m, why) => this.trace(`drop ${fmtMsg(m)} (${why})`);
    for (const id of opts.ids) {
      const founder = opts.voters.includes(id);
      this.nodes.set(id, {
        id,
        gen: 0,
        starts: 0,
        fs: new MemFs(),
        storage: null,
        raft: null,
        loop: null,
        sm: new KvStateMachine(),
        applied: 0,
        snapIndex: 0,
        everApplied: 0,
        incarnation: founder ? "" : `${id}.0`,
        admitted: founder,
        diskLosses: 0,
        lastConf: { voters: [], learners: [] },
        promisedTerm: 0,
        promisedVote: "",
        leaderTerm: 0,
        image: new Map(),
        crashKind: "process",
        appliedAtCrash: 0,
        raftAtCrash: null,
        armed: 0,
        armedKind: "process",
        busy: { truncate: false, snapshot: false, roll: false },
        level: opts.levels?.[id] ?? CURRENT_LEVEL,
        clusterLevel: opts.levels === undefined ? CURRENT_LEVEL : 0,
        blocked: false,
        cluster: "",
        alien: "",
      });
    }
  }

  /** Founds the cluster: every founding voter bootstraps, the others start empty. */
  async startAll(): Promise<void> {
    const boot: ConfState = { voters: [...this.opts.voters].sort(), learners: [] };
    for (const n of this.nodes.values()) await this.open(n, new MemFs(), n.admitted ? boot : null);
  }

  node(id: string): DNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  trace(line: string): void {
    if (this.opts.trace) this.traceLines.push(`[${(this.now / TICK).toFixed(1).padStart(6)}] ${line}`);
  }

  describe(n: DNode): string {
    if (!n.raft) return `${n.id} down`;
    const s = n.raft.status();
    const inc = s.admitted || !s.conf.voters.includes(n.id) ? "" : ` (not admitted: ${n.incarnation})`;
    return `${n.id} ${s.role} t${s.term} last=${s.lastIndex} commit=${s.commit} applied=${n.applied}${s.lead ? ` lead=${s.lead}` : ""}${inc}`;
  }

  /** The checker node `n`'s own log and state report to (another one for a moved-in directory). */
  private checkOf(n: DNode): InvariantChecker {
    return n.alien === "" ? this.check : this.alienCheck;
  }

  isUp(id: string): boolean {
    return this.node(id).raft !== null;
  }

  /** A paused process runs nothing, its timers included (messages to it wait in its socket). */
  isPaused(id: string): boolean {
    return this.pausedUntil.has(id);
  }

  // ---------------------------------------------------------------- the event engine

  /** Lets every promise chain run to its next await, running deferred work until none is left. */
  private async settle(): Promise<void> {
    for (let round = 0; ; round++) {
      await new Promise<void>((r) => setImmediate(r));
      if (this.immediates.length === 0) return;
      if (round > 10_000) throw new Error("simulator: deferred work never settles");
      const q = this.immediates;
      this.immediates = [];
      for (const fn of q) fn();
    }
  }

  private addTimer(at: number, fn: () => void): void {
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1].at > at) i--;
    this.timers.splice(i, 0, { at, fn });
  }

  /** One sim unit: due messages, due fsync completions, a tick every TICK units, then settle. */
  async stepUnit(): Promise<void> {
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
    const due = this.net.due(this.now);
    for (const m of due) if (!this.misrouted(m)) this.deliver(m);
    let work = due.length > 0 || this.immediates.length > 0;
    while (this.timers.length > 0 && this.timers[0].at <= this.now) {
      (this.timers.shift() as { fn: () => void }).fn();
      work = true;
    }
    if (this.now % TICK === 0) {
      this.tickAll();
      work = true;
    }
    // The last settle drained every promise chain: a unit without input has nothing to run.
    if (work) await this.settle();
  }

  async runTicks(ticks: number): Promise<void> {
    for (let i = 0; i < ticks * TICK; i++) await this.stepUnit();
  }

  async runUntil(pred: () => boolean, maxTicks: number): Promise<boolean> {
    for (let i = 0; i < maxTicks * TICK; i++) {
      if (pred()) return true;
      await this.stepUnit();
    }
    return pred();
  }

  private tickAll(): void {
    if (this.opts.trace)
      this.trace(`tick | ${[...this.nodes.values()].map((n) => this.describe(n)).join(" | ")}`);
    this.tickCount++;
    for (const n of this.nodes.values()) {
      const raft = n.raft;
      if (!raft || this.pausedUntil.has(n.id)) continue;
      if (this.tickCount % 10 === 0 && n.storage && !raft.hasReady())
        this.checkOf(n).checkConf(n.id, raft, n.storage);
      const rate = this.rate.get(n.id) ?? 1;
      if (rate < 1 && this.tickCount % 2 === 1) continue;
      // As the driver does on its transport's "unreachable" (and every tick): a leader probes,
      // instead of pipelining to, a peer it cannot reach (cut off, or its process down).
      for (const [p, peer] of this.nodes)
        if (p !== n.id && (!peer.raft || !this.net.canTalk(n.id, p))) raft.reportUnreachable(p);
      raft.tick();
      if (rate > 1) raft.tick();
      this.afterInput(n);
    }
  }

  private deliver(m: Message): void {
    const n = this.nodes.get(m.to);
    if (!n?.raft) return;
    if (this.pausedUntil.has(m.to)) {
      this.held.push(m);
      return;
    }
    this.trace(`deliver ${fmtMsg(m)} | ${this.describe(n)}`);
    const from = this.node(m.from);
    const why = helloClusterRefusal(m.from, m.to, from.cluster, n.cluster);
    if (from.alien !== n.alien) {
      // One end runs the other cluster's data directory: the handshake must refuse, when both
      // ends hold an id. One without (an empty directory not yet caught up) is not protected
      // (README, Cluster identity, "Not covered"): such traffic is dropped, not modelled.
      if (from.cluster === "" || n.cluster === "") {
        this.stats.unprotected++;
        this.trace(`dropped ${fmtMsg(m)} between a moved-in directory and a node without a cluster id`);
      } else if (why !== null) {
        this.stats.movedInRefused++;
        this.trace(`refused ${fmtMsg(m)} between a moved-in directory and this cluster: ${why}`);
      } else
        this.check.fail(
          `cluster identity: a ${m.type} from ${m.from} (${from.alien || "own"} directory) crossed into ${m.to} (${n.alien || "own"} directory)`,
        );
      return;
    }
    // Within one cluster every member derives the same id: the handshake never refuses a member.
    if (why !== null) {
      this.check.fail(`cluster identity: within cluster ${this.opts.label ?? "A"}, ${why}`);
      return;
    }
    if (m.incarnation !== from.incarnation) this.stats.staleIncarnation++;
    try {
      n.raft.step(m);
    } catch (err) {
      this.trace(`${n.id} step ${m.type}: ${(err as Error).message}`);
    }
    this.afterInput(n);
  }

  /**
   * Hands `m` to the foreign cluster's node of the same id instead (true), a `misroute` share of
   * the messages whose sender and receiver both hold a cluster id: the handshake protects only
   * those (a hello without an id is served: README, Cluster identity, "Not covered").
   */
  private misrouted(m: Message): boolean {
    const other = this.foreign;
    if (other === null || this.misroute === 0) return false;
    const from = this.nodes.get(m.from);
    const to = other.nodes.get(m.to);
    if (
      from === undefined ||
      from.cluster === "" ||
      to === undefined ||
      to.raft === null ||
      to.cluster === ""
    )
      return false;
    // A moved-in directory meeting the cluster it was copied from is a clone: not modelled.
    if (from.alien !== "" || to.alien !== "") return false;
    if (this.misrouteRng.next() >= this.misroute) return false;
    this.stats.misrouted++;
    other.receiveForeign(m, from.cluster, this.opts.label ?? "A");
    return true;
  }

  /** A message of another cluster reached this one's node `m.to`: its handshake must refuse it. */
  receiveForeign(m: Message, theirs: string, label: string): void {
    const n = this.node(m.to);
    if (!n.raft) return;
    const why = helloClusterRefusal(m.from, m.to, theirs, n.cluster);
    if (why !== null) {
      this.stats.crossClusterRefused++;
      this.trace(`refused ${fmtMsg(m)} of cluster ${label}: ${why}`);
      return;
    }
    this.check.fail(
      `cluster identity: a ${m.type} from ${m.from} of cluster ${label} (id ${theirs}) crossed into ${m.to} of cluster ${this.opts.label ?? "A"} (id ${n.cluster})`,
    );
  }

  /** After any input: election safety and leader completeness, then a Ready loop pass. */
  afterInput(n: DNode): void {
    const raft = n.raft;
    if (!raft) return;
    const s = raft.status();
    n.lastConf = s.conf;
    if (s.role === "leader") {
      this.checkOf(n).checkLeader(n.id, s.term);
      if (n.leaderTerm !== s.term) {
        n.leaderTerm = s.term;
        this.trace(`leader ${this.describe(n)}`);
        this.checkOf(n).checkLeaderCompleteness(n.id, raft);
      }
    }
    n.loop?.kick();
  }

  // ---------------------------------------------------------------- one node's process

  private deferSync(n: DNode, gen: number, fn: () => void): void {
    const run = () => {
      if (n.gen === gen) fn();
    };
    const slow = this.opts.slowFsync ?? 0;
    if (n.storage !== null && slow > 0 && this.rng.next() < slow)
      this.addTimer(this.now + 1 + this.rng.int(2 * TICK), run);
    else this.immediates.push(run);
  }

  private beforeOp(n: DNode, gen: number, op: string): void {
    if (n.gen !== gen) throw new Crash("a dead process touches no file");
    if (n.armed === 0) return;
    n.armed--;
    if (n.armed > 0) return;
    const where = [
      n.busy.truncate ? "truncation" : "",
      n.busy.snapshot ? "snapshot install" : "",
      n.busy.roll ? "segment roll" : "",
    ]
      .filter(Boolean)
      .join("+");
    if (n.busy.truncate) this.stats.crashInTruncation++;
    if (n.busy.snapshot) this.stats.crashInSnapshotInstall++;
    if (n.busy.roll) this.stats.crashInRoll++;
    this.stats.armedCrashes++;
    n.image = n.fs.image(n.armedKind, () => this.rng.next());
    this.down(n, n.armedKind, `before ${op}${where ? ` during ${where}` : ""}`);
    throw new Crash(`crashed before ${op}`);
  }

  /** The storage as the loop sees it: the real FileStorage, noting what each Ready does. */
  private observed(n: DNode, storage: FileStorage): ReadyStorage {
    const sim = this;
    return {
      hardState: () => storage.hardState(),
      async applySnapshot(snap) {
        n.busy.snapshot = true;
        if (sim.injectFaults && sim.rng.next() < 0.2) sim.arm(n.id, 1 + sim.rng.int(10));
        await storage.applySnapshot(snap);
        n.busy.snapshot = false;
      },
      append(entries) {
        if (entries.length > 0 && entries[0].index <= storage.lastIndex()) {
          n.busy.truncate = true;
          if (sim.injectFaults && sim.rng.next() < 0.6) sim.arm(n.id, 1 + sim.rng.int(8));
        }
        const segs = storage.segmentNames().length;
        storage.append(entries);
        if (storage.segmentNames().length !== segs) {
          n.busy.roll = true;
          if (sim.injectFaults && sim.rng.next() < 0.15) sim.arm(n.id, 1 + sim.rng.int(6));
        }
      },
      setHardState(hs) {
        const segs = storage.segmentNames().length;
        storage.setHardState(hs);
        if (storage.segmentNames().length !== segs) n.busy.roll = true;
      },
      writeNow: () => storage.writeNow(),
      async sync() {
        await storage.sync();
        n.busy.truncate = false;
        n.busy.roll = false;
      },
    };
  }

  /** Opens `fs` as node `n`'s disk and starts its process (as RaftDriver.start does). */
  private async open(n: DNode, fs: MemFs, found: ConfState | null): Promise<void> {
    n.gen++;
    n.starts++;
    n.blocked = false;
    const gen = n.gen;
    n.fs = fs;
    n.storage = null;
    n.armed = 0;
    n.busy = { truncate: false, snapshot: false, roll: false };
    fs.defer = (fn) => this.deferSync(n, gen, fn);
    fs.beforeOp = (op) => this.beforeOp(n, gen, op);
    const opening = (async () => {
      const storage = await FileStorage.open(DIR, {
        fs,
        segmentBytes: this.opts.segmentBytes ?? 600,
        onWarning: (m) => this.trace(`${n.id} storage: ${m}`),
      });
      if (found !== null) {
        await storage.applySnapshot(bootstrapSnapshot(found));
        storage.setHardState(BOOTSTRAP_HARD_STATE);
        await storage.sync();
      }
      return storage;
    })();
    let storage: FileStorage | null = null;
    let failure: unknown = null;
    opening.then(
      (s) => {
        storage = s;
      },
      (e) => {
        failure = e;
      },
    );
    await this.settle();
    if (failure !== null || storage === null) {
      this.check.fail(
        `recovery: ${n.id} refused to start: ${failure === null ? "did not finish" : String(failure)}`,
      );
      return;
    }
    const st = storage as FileStorage;
    n.storage = st;
    this.restoreState(n, st.snapshot());
    if (n.blocked) {
      // As RaftDriver.start: a snapshot of a level above this build's refuses the start.
      this.trace(`${n.id} refuses to start: upgrade required`);
      n.storage = null;
      return;
    }
    n.snapIndex = n.applied;
    const commit = Math.max(st.hardState().commit, n.applied);
    const raft = new RaftNode({
      electionTick: 10,
      heartbeatTick: 1,
      ...this.opts.raft,
      id: n.id,
      storage: st,
      seed: this.opts.seed * 31 + n.starts * 7 + n.id.charCodeAt(n.id.length - 1),
      applied: commit,
      incarnation: n.incarnation,
      ...(this.opts.levels === undefined ? {} : { level: n.level, clusterLevel: n.clusterLevel }),
    });
    n.raft = raft;
    n.leaderTerm = 0;
    // As the driver: what the durable commit index covers is applied before anything is served.
    if (commit > n.applied) this.applyEntries(n, st.entries(n.applied + 1, commit + 1));
    if (n.blocked) {
      // As RaftDriver.start: a log whose committed part holds a later version's entry refuses
      // the start (the process exits), rather than serving past it.
      this.trace(`${n.id} refuses to start: upgrade required`);
      n.raft = null;
      n.storage = null;
      return;
    }
    n.loop = new ReadyLoop(
      raft,
      this.observed(n, st),
      {
        send: (to, payload) => {
          if (n.gen !== gen) return false;
          // Read as the receiver's build reads it: a frame it would refuse (a flag of a later
          // level) is a gate the sender skipped. So is one to an older build than the level the
          // fleet committed (a join past it): the leader sends it no list, so that it installs
          // the snapshot and stops at the level with UPGRADE_REQUIRED (the README), where a
          // refused frame would leave it lagging with nothing said.
          const level = this.nodes.get(to)?.level ?? CURRENT_LEVEL;
          let msgs: Message[];
          try {
            msgs = decodeMessages(payload, level);
          } catch (err) {
            this.check.fail(
              `frame from ${n.id} to ${to} refused by its level-${level} build: ${(err as Error).message}`,
            );
            return true;
          }
          for (const m of msgs) {
            this.notePromise(n, m);
            this.net.send(m, this.now);
          }
          return true;
        },
      },
      {
        applyReady: (rd) => {
          if (n.gen !== gen) return;
          if (rd.entries.length > 0) this.checkOf(n).onPersistEntries(n.id, st, rd.entries);
          if (rd.committedEntries.length > 0) this.applyEntries(n, rd.committedEntries);
          // As the driver's applyReady: a blocked node serves no read.
          if (n.blocked) return;
          for (const rs of rd.readStates) this.onRead?.(n.id, rs);
          this.onAdvance?.(n.id);
        },
        restoreSnapshot: (snap) => {
          if (n.gen !== gen) return;
          this.checkOf(n).onPersistSnapshot(n.id, snap);
          // As the driver: blocked, the core keeps the snapshot it was sent (the log goes on)
          // and the state machine keeps what it applied before the block.
          if (n.blocked) return;
          this.restoreState(n, snap);
          this.stats.snapshotsInstalled++;
          this.trace(`${n.id} installed snapshot @${snap.meta.index}`);
        },
        afterAdvance: async () => {
          if (n.blocked) return;
          const every = this.opts.compactEvery ?? 0;
          if (n.gen !== gen || every === 0 || n.applied - n.snapIndex < every) return;
          const index = n.applied;
          const sm = { apply() {}, snapshot: () => n.sm.snapshot(), restore() {} };
          const level = this.opts.levels === undefined ? 0 : n.clusterLevel;
          await takeSnapshot(st, raft, sm, {}, index, this.rng.int(3), {}, undefined, level, n.cluster);
          if (n.gen !== gen) return;
          n.snapIndex = index;
          this.stats.snapshotsTaken++;
          this.trace(`${n.id} snapshot @${index}`);
        },
        fatal: (err) => {
          // A crash we injected surfaces here from the dead process: not a finding.
          if (n.gen !== gen || err instanceof Crash) return;
          this.check.fail(`${n.id}: the Ready loop stopped: ${(err as Error).message}`);
        },
      },
      (fn) => {
        this.immediates.push(() => {
          if (n.gen === gen) fn();
        });
      },
    );
    n.loop.kick();
  }

  /** A vote or an append acknowledgement promises that the term (and vote) are durable. */
  private notePromise(n: DNode, m: Message): void {
    if ((m.type !== "voteResp" && m.type !== "appResp") || m.reject) return;
    const vote = m.type === "voteResp" ? m.to : "";
    if (m.term > n.promisedTerm) {
      n.promisedTerm = m.term;
      n.promisedVote = vote;
    } else if (m.term === n.promisedTerm && vote !== "") {
      if (n.promisedVote !== "" && n.promisedVote !== vote)
        this.check.fail(`durable state: ${n.id} voted for ${n.promisedVote} and ${vote} in term ${m.term}`);
      n.promisedVote = vote;
    }
  }

  private restoreState(n: DNode, snap: Snapshot): void {
    n.sm =
      snap.data.length === 0 ? new KvStateMachine() : KvStateMachine.restore(unwrapSnapshot(snap.data).state);
    // As the driver: the snapshot's level is committed (it never lowers the one applied), and
    // the cluster id it names is this directory's.
    if (this.opts.levels !== undefined && snap.data.length > 0) {
      const { level, cluster } = unwrapSnapshot(snap.data);
      if (cluster !== "") this.adoptCluster(n, cluster, `snapshot @${snap.meta.index}`);
      this.raiseLevel(n, level, `snapshot @${snap.meta.index}`, false);
      if (n.blocked) return;
    }
    this.checkAppliesBelowBlock(n, snap.meta.index);
    n.applied = snap.meta.index;
    n.snapIndex = Math.max(n.snapIndex, snap.meta.index);
    this.checkAdmission(n, snap.meta.conf);
    n.everApplied = Math.max(n.everApplied, n.applied);
    this.onAdvance?.(n.id);
  }

  private applyEntries(n: DNode, entries: readonly Entry[]): void {
    for (const e of entries) {
      if (n.blocked) return;
      if (e.index <= n.applied) continue;
      this.checkAppliesBelowBlock(n, e.index);
      this.checkOf(n).onApply(n.id, e, n.applied, n.raft?.status().term);
      n.applied = e.index;
      n.everApplied = Math.max(n.everApplied, e.index);
      if (e.type === "conf") {
        if (e.index > this.maxConfIndex) {
          this.maxConfIndex = e.index;
          this.stats.confChanges++;
        }
        if (n.raft) this.checkAdmission(n, n.raft.confStateAt(e.index));
        continue;
      }
      if (e.data.length === 0) continue;
      if (e.data[0] === 0x7b /* "{" */) n.sm.apply(decodeCommand(e.data));
      else if (e.data[0] === KIND_LEVEL && e.data.length > ENTRY_HEADER) this.applyLevel(n, e);
    }
  }

  /**
   * A restart forgets no retired data directory: at the restarted log's last entry (when the
   * dead process held that entry, and had not compacted past it), the directories retired are
   * those the process that died held there.
   */
  private checkRetiredKept(n: DNode, raft: RaftNode, st: FileStorage): void {
    const dead = n.raftAtCrash;
    n.raftAtCrash = null;
    const k = st.lastIndex();
    if (dead === null || dead.termAt(k) === undefined || dead.termAt(k) !== raft.termAt(k)) return;
    // termAt(0) is 0 on every log: a process that died installing a snapshot (its list the
    // leader's) compacted past 0 too, and retiredAt is defined only from its snapshot on.
    if (k < dead.status().firstIndex - 1) return;
    const before = JSON.stringify(dead.retiredAt(k));
    const after = JSON.stringify(raft.retiredAt(k));
    if (before !== after)
      this.check.fail(
        `retired directories: ${n.id} restarted at ${k} retiring ${after}, before its crash ${before}`,
      );
  }

  /**
   * What a process refuses is what a replay of its log gives: its live retired directories are
   * those its log's changes retired (a cut or an installed snapshot undoing an uncommitted
   * change included), else a restart would forget or invent some.
   */
  private checkRetiredReplayed(n: DNode, raft: RaftNode): void {
    const live = JSON.stringify(raft.retiredNow());
    const replayed = JSON.stringify(raft.retiredAt(raft.lastIndex()));
    if (live !== replayed)
      this.check.fail(`retired directories: ${n.id} retires ${live}, its log ${replayed}`);
  }

  /** A committed configuration naming this node a voter under its incarnation admits it. */
  private checkAdmission(n: DNode, conf: ConfState): void {
    if (
      n.alien !== "" ||
      n.admitted ||
      !conf.voters.includes(n.id) ||
      incarnationIn(conf, n.id) !== n.incarnation
    )
      return;
    n.admitted = true;
    if (n.diskLosses > 0) this.stats.readmitted++;
    this.trace(`${n.id} admitted as ${n.incarnation || "founder"}`);
  }

  // ---------------------------------------------------------------- faults

  private down(n: DNode, kind: CrashKind, why: string): void {
    this.trace(`crash (${kind}) ${this.describe(n)} ${why}`);
    this.stats.crashes++;
    if (kind === "powerReordered") this.stats.powerReordered++;
    n.appliedAtCrash = n.applied;
    if (n.raft !== null) this.checkRetiredReplayed(n, n.raft);
    n.raftAtCrash = n.raft;
    n.crashKind = kind;
    n.gen++;
    n.raft = null;
    n.loop = null;
    n.storage = null;
    n.armed = 0;
  }

  /** Crashes node `id` now (between two operations). */
  crash(id: string, kind: CrashKind): void {
    const n = this.node(id);
    if (!n.raft) return;
    n.image = n.fs.image(kind, () => this.rng.next());
    this.down(n, kind, "now");
  }

  /** Ends fault injection: no armed crash is left, none is armed from now on. */
  stopFaults(): void {
    this.injectFaults = false;
    for (const n of this.nodes.values()) n.armed = 0;
  }

  /** Node `id` dies just before its `ops`-th next file operation (kind picked at random). */
  arm(id: string, ops: number): void {
    const n = this.node(id);
    if (!n.raft || n.armed > 0) return;
    n.armed = ops;
    n.armedKind = this.pickKind();
    this.trace(`arm ${id}: ${n.armedKind} crash in ${ops} file operations`);
  }

  pickKind(): CrashKind {
    const r = this.rng.next();
    return r < 0.4 ? "process" : r < 0.6 ? "power" : r < 0.75 ? "powerTorn" : "powerReordered";
  }

  /** Node `id`'s disk is gone (deleted volume, pod on another node): it restarts empty. */
  loseDisk(id: string): void {
    const n = this.node(id);
    if (n.raft) this.down(n, "power", "and loses its disk");
    n.image = null;
    this.stats.diskLosses++;
    n.diskLosses++;
    n.incarnation = `${n.id}.${n.diskLosses}`;
    // An empty directory knows no committed level until it catches up (the build keeps its own).
    if (this.opts.levels !== undefined) n.clusterLevel = 0;
    n.cluster = "";
    n.alien = "";
    n.admitted = false;
    n.lastConf = { voters: [], learners: [] };
    n.promisedTerm = 0;
    n.promisedVote = "";
    n.appliedAtCrash = 0;
    n.raftAtCrash = null;
  }

  /**
   * Node `id` restarts on a copy of `from`'s data directory, a node of cluster `label` (moved
   * between fleets): it holds that cluster's id, incarnation and level, and this cluster has lost
   * `id`'s own directory (the fault model of a lost disk). loseDisk() ends it (the operator
   * starts the member on an empty directory: README, Cluster identity, Recovery).
   */
  async moveIn(id: string, from: DNode, label: string): Promise<void> {
    const n = this.node(id);
    if (n.raft) this.down(n, "process", `and restarts on a data directory of cluster ${label}`);
    n.image = from.fs.image("process", () => this.rng.next());
    this.stats.movedIn++;
    n.alien = label;
    n.cluster = from.cluster;
    n.incarnation = from.incarnation;
    n.level = from.level;
    n.clusterLevel = from.clusterLevel;
    n.admitted = false;
    n.lastConf = { voters: [], learners: [] };
    n.promisedTerm = 0;
    n.promisedVote = "";
    n.appliedAtCrash = 0;
    n.raftAtCrash = null;
    await this.open(n, MemFs.fromImage(n.image), null);
    this.trace(
      `${id} restarted on ${from.id}'s data directory of cluster ${label} (id ${n.cluster}): ${this.describe(n)}`,
    );
  }

  async restart(id: string): Promise<void> {
    const n = this.node(id);
    if (n.raft) this.crash(id, "process");
    if (this.opts.levels !== undefined && n.level < CURRENT_LEVEL && this.levelRng.next() < 0.5)
      this.upgrade(id);
    // The dead process's messages stay in flight: a late ack of a previous incarnation must not
    // count (the core drops a reply whose incarnation the configuration does not name).
    if (n.image === null) {
      await this.open(n, new MemFs(), null);
      this.trace(`restart on an EMPTY data directory as ${n.incarnation}: ${this.describe(n)}`);
      return;
    }
    await this.open(n, MemFs.fromImage(n.image), null);
    if (!n.raft || !n.storage) return;
    const hs = n.storage.hardState();
    if (hs.term < n.promisedTerm)
      this.check.fail(
        `durable state: ${id} came back at term ${hs.term} after promising term ${n.promisedTerm} (${n.crashKind})`,
      );
    else if (hs.term === n.promisedTerm && n.promisedVote !== "" && hs.vote !== n.promisedVote)
      this.check.fail(
        `durable state: ${id} came back without its vote for ${n.promisedVote} in term ${hs.term} (${n.crashKind})`,
      );
    if (n.crashKind === "process" && n.applied < n.appliedAtCrash)
      this.check.fail(
        `back in time: ${id} restarted at applied ${n.applied} after serving ${n.appliedAtCrash} (kill -9)`,
      );
    this.checkRetiredKept(n, n.raft, n.storage);
    this.trace(`restart (${n.crashKind}) ${this.describe(n)}`);
  }

  setClockRate(id: string, rate: number): void {
    this.trace(`clock ${id} x${rate}`);
    if (rate === 1) this.rate.delete(id);
    else this.rate.set(id, rate);
  }

  pause(id: string, ticks: number): void {
    this.trace(`pause ${id} for ${ticks} ticks`);
    this.pausedUntil.set(id, this.now + ticks * TICK);
  }

  cutOneWay(from: string, to: string): void {
    this.trace(`cut one way ${from} -> ${to}`);
    this.net.cutOneWay(from, to);
  }

  partition(groups: readonly (readonly string[])[]): void {
    this.trace(`partition ${groups.map((g) => `[${g.join(",")}]`).join(" ")}`);
    this.net.partition(groups);
  }

  heal(): void {
    this.trace("heal");
    this.net.heal();
    this.rate.clear();
  }

  // ---------------------------------------------------------------- queries

  /** The leader with the highest term among live, connected nodes, if any. */
  /** The node's next start runs this build's level (a rolling upgrade's step). */
  upgrade(id: string): void {
    const n = this.node(id);
    if (n.level === CURRENT_LEVEL) return;
    this.trace(`${id} upgraded: level ${n.level} -> ${CURRENT_LEVEL}`);
    n.level = CURRENT_LEVEL;
    this.stats.upgrades++;
  }

  /**
   * Mixed-level runs, as the driver's maybeRaiseLevel: the leader proposes the fleet's level
   * (the minimum every member of its configuration advertised this term) once it is above the
   * committed one. Checked: no member of that configuration runs a build below it.
   */
  tendLevel(): void {
    if (this.opts.levels === undefined) return;
    const l = this.leader();
    if (l === null) return;
    const n = this.node(l);
    const raft = n.raft;
    // A blocked leader proposes nothing (maybeRaiseLevel).
    if (!raft || n.blocked) return;
    const fleet = raft.fleetLevel();
    if (fleet === undefined || fleet <= n.clusterLevel) return;
    const term = raft.status().term;
    const last = this.lastLevelProposal;
    if (last.node === l && last.term === term && last.level === fleet) return;
    const conf = raft.status().conf;
    for (const id of [...conf.voters, ...conf.learners]) {
      const m = this.node(id);
      if (m.level < fleet)
        this.check.fail(
          `feature level: ${l} (t${term}) raises the fleet to ${fleet} while member ${id} runs level ${m.level}`,
        );
    }
    try {
      // Under the proposing process's session, as the driver: the cluster id is derived from it.
      const lo = n.starts * 64 + n.id.charCodeAt(n.id.length - 1);
      raft.propose(wrapEntry(KIND_LEVEL, this.session, lo, this.stats.levelProposals, encodeLevel(fleet)));
      this.lastLevelProposal = { node: l, term, level: fleet };
      this.stats.levelProposals++;
      this.trace(`${l} proposes cluster level ${fleet}`);
    } catch {}
    this.afterInput(n);
  }

  private applyLevel(n: DNode, e: Entry): void {
    if (this.opts.levels === undefined) return;
    const level = decodeLevel(e.data.subarray(ENTRY_HEADER), () => true);
    if (level === undefined) return;
    this.levelEntries.set(e.index, level);
    const before = n.clusterLevel;
    this.raiseLevel(n, level, `entry ${e.index}`, true);
    // As the driver: the entry that first takes the fleet to LEVEL_CLUSTER_ID fixes the id.
    if (
      before < LEVEL_CLUSTER_ID &&
      n.clusterLevel >= LEVEL_CLUSTER_ID &&
      readEntryHeader(e.data, this.header)
    ) {
      const h = this.header;
      this.adoptCluster(
        n,
        deriveClusterId(e.index, e.term, h.sessionHi, h.sessionLo, h.seq),
        `entry ${e.index}`,
      );
    }
  }

  /** Node `n` learns its cluster id; another than the one it holds is a violation (the driver stops). */
  private adoptCluster(n: DNode, id: string, what: string): void {
    if (this.opts.clusterIds !== true || n.cluster === id) return;
    if (n.cluster !== "") {
      this.check.fail(`cluster identity: ${n.id} holds cluster ${n.cluster}, ${what} names ${id}`);
      return;
    }
    n.cluster = id;
    this.stats.clusterIdsFixed++;
    this.trace(`${n.id} cluster id ${id} (${what})`);
  }

  /** A build never applies past a committed entry of a later level than its own (it blocks there). */
  private checkAppliesBelowBlock(n: DNode, index: number): void {
    for (const [at, level] of this.levelEntries)
      if (level > n.level && at < index)
        this.check.fail(
          `upgrade block: ${n.id} (build level ${n.level}) applies ${index}, past entry ${at} of cluster level ${level}`,
        );
  }

  /** `atEntry`: met at a committed entry (the driver holds its Raft role), else in a snapshot. */
  private raiseLevel(n: DNode, level: number, what: string, atEntry: boolean): void {
    if (level <= n.clusterLevel) return;
    // The driver blocks with UPGRADE_REQUIRED at a level above its build's: a node that was a
    // member when it was committed never meets one (tendLevel checks that).
    if (level > n.level) {
      this.trace(`${n.id} (level ${n.level}) meets cluster level ${level} at ${what}: upgrade required`);
      // As the driver: nothing more is applied or snapshotted. Applying on would let it snapshot
      // a state without the level, which its upgraded build would then restart from.
      n.blocked = true;
      this.stats.levelBlocks++;
      // At an entry (upgradeBlock, holdAtBlock) the process keeps ticking, voting, replicating
      // and heartbeating, so a peer that missed the commit index learns it from this one. A
      // snapshot's level throws in restoreSnapshot, which stops the driver (fatal): a crash.
      if (atEntry) return;
      const gen = n.gen;
      this.immediates.push(() => {
        if (n.gen === gen) this.crash(n.id, "process");
      });
      return;
    }
    n.clusterLevel = level;
    n.raft?.setClusterLevel(level);
    this.stats.levelRaises++;
  }

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
}
