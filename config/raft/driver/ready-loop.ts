// The driver's Ready loop: drains the core's Readys one at a time, persisting each with at most
// ONE sync, sending its messages, applying it, then advance(). It runs the ordering that the
// core's contract allows (core/ready.ts), which is looser than "persist, then send, then apply":
//   - a Ready without a vote change or snapshot sends its requests (a leader's appends and
//     heartbeats, forwarded proposals and reads, timeoutNow) BEFORE the fsync, so replication to
//     followers overlaps the leader's own disk write (thesis §10.2.1);
//   - it applies committed entries before persisting the same Ready's new entries (they are
//     already durable on a quorum);
//   - a hard state whose only change is commit is not synced (etcd's MustSync), but it is
//     handed to the kernel BEFORE the entries it covers are applied (a process crash keeps it),
//     so a restarted instance applies up to it before serving and never goes back in time;
//   - responses and votes go out only after the sync.
// With a snapshot the strict order holds: persist it, restore it, apply what follows it.
// Entries and hard state are queued before applying (the commit index may cover entries of
// this same Ready, so they go first); only the sync waits until after applying.
// Input (step/tick/propose) schedules a pass with kick(); everything arriving in one turn of the
// event loop joins the same Ready. Storage, transport and the deferral are injected so that the
// deterministic simulator runs THIS loop (test/raft/sim/driver-sim.ts), not a copy of it.
import {
  canSendBeforeSync,
  encodeMessages,
  type Message,
  mustSync,
  type RaftNode,
  type Ready,
  sentBeforeSync,
} from "../core/index.js";
import type { Entry, HardState, NodeId, Snapshot } from "../types.js";

/**
 * The storage the loop writes (FileStorage in production; the simulator runs the same
 * FileStorage on an in-memory page-cache file system, test/raft/sim/driver-sim.ts).
 */
export interface ReadyStorage {
  hardState(): HardState;
  applySnapshot(snap: Snapshot): Promise<void>;
  append(entries: readonly Entry[]): void;
  setHardState(hs: HardState): void;
  writeNow(): boolean;
  sync(): Promise<void>;
}

/** Where encoded message batches go (TcpTransport in production, the simulated network in tests). */
export interface ReadyTransport {
  /**
   * Queues `payload` for `to`; false when dropped. With `onUnsent` (a follower's forwarded
   * proposals) the transport sends it only on the connection it has or is dialling now: false,
   * or a later call of `onUnsent`, means no byte of it left this node. Without it, `onLost` (if
   * given) is called when a queued payload is dropped before it went out (false is not).
   */
  send(to: NodeId, payload: Uint8Array, onUnsent?: () => void, onLost?: () => void): boolean;
}

/** Runs `fn` after the current turn (setImmediate in production; the simulator's own queue). */
export type Defer = (fn: () => void) => void;

const deferImmediate: Defer = (fn) => {
  setImmediate(fn);
};

/** What the loop calls back into (the driver). */
export interface ReadyHandler {
  /** Apply committed entries, soft state and read states of `rd` (never its snapshot). */
  applyReady(rd: Ready): void;
  /** Restore the state machine from a snapshot the leader sent (already persisted). */
  restoreSnapshot(snap: Snapshot): void;
  /** After advance(): e.g. take a snapshot of the state machine. */
  afterAdvance(): Promise<void>;
  /** The loop failed (storage error): the node must stop. */
  fatal(err: unknown): void;
  /**
   * Forwarded proposals ("prop" messages) the transport dropped before any byte went out (no
   * open connection to the leader): nothing was proposed, so their callers can be told at once.
   */
  unsent?(msgs: readonly Message[]): void;
  /**
   * A leader's snapshot to `to` (its index) did not go: the transport queued it and dropped it
   * later, or its write failed (a send refused at once is not reported: it would be refused
   * again). May be called synchronously from inside a send: the handler defers what it does.
   */
  snapshotLost?(to: NodeId, index: number): void;
}

export class ReadyLoop {
  private pumping = false;
  private scheduled = false;
  private stopped = false;
  private done: Promise<void> = Promise.resolve();
  /** What the pass in progress awaits ("" when none) and since when (performance.now()). */
  private waitingOn = "";
  private waitingSince = 0;
  private readonly runBound = () => {
    this.scheduled = false;
    this.start();
  };

  constructor(
    private readonly node: RaftNode,
    private readonly storage: ReadyStorage,
    private readonly transport: ReadyTransport,
    private readonly handler: ReadyHandler,
    private readonly defer: Defer = deferImmediate,
  ) {}

  /** Schedules a pass over the pending Readys. */
  kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    // Deferred so that everything arriving in this turn of the event loop joins one Ready.
    this.defer(this.runBound);
  }

  /** Stops scheduling passes and resolves once the pass in progress finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done.catch(() => {});
  }

  private start(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    this.done = this.pump().then(
      () => {
        this.pumping = false;
      },
      (err) => {
        this.pumping = false;
        this.handler.fatal(err);
      },
    );
  }

  private async pump(): Promise<void> {
    const node = this.node;
    const storage = this.storage;
    while (!this.stopped && node.hasReady()) {
      const rd = node.ready();
      const prev = storage.hardState();
      const hs = rd.hardState;
      const snap = rd.snapshot;
      // MustSync: a commit-only hard state can be re-learned from the leader after a crash.
      const sync = mustSync(rd, prev);
      // Requests promise nothing about this node's disk; a leader counts itself towards a
      // quorum only after advance(), so a crash before the sync cannot commit what it lacks.
      const early = sync && canSendBeforeSync(rd, prev);
      if (early) this.send(rd.messages, true);
      if (snap) await this.wait("snapshot install", storage.applySnapshot(snap));
      if (rd.entries.length > 0) storage.append(rd.entries);
      if (hs) storage.setHardState(hs);
      // The commit index reaches the kernel before what it covers is applied (and served).
      if (hs !== undefined && hs.commit > prev.commit && !storage.writeNow())
        await this.wait("storage sync", storage.sync());
      if (snap === undefined) this.handler.applyReady(rd);
      if (sync) await this.wait("storage sync", storage.sync());
      this.send(rd.messages, early ? false : null);
      if (snap) {
        this.handler.restoreSnapshot(snap);
        this.handler.applyReady(rd);
      }
      node.advance(rd);
      await this.wait("snapshot", this.handler.afterAdvance());
    }
  }

  /**
   * What the pass in progress has been awaiting for longer than a turn of the event loop, or
   * null. Nothing is applied while a pass waits, so a wait that never ends is a node that
   * stopped applying: status() reports it and the application says so (degraded apply_stalled).
   */
  stalledOn(now: number = performance.now()): { on: string; ms: number } | null {
    if (this.waitingOn === "") return null;
    return { on: this.waitingOn, ms: now - this.waitingSince };
  }

  private async wait(on: string, p: Promise<void>): Promise<void> {
    this.waitingOn = on;
    this.waitingSince = performance.now();
    try {
      await p;
    } finally {
      this.waitingOn = "";
    }
  }

  /**
   * Sends `msgs` grouped per peer; `early` true/false sends only those that may/may not precede
   * the sync, null all. Forwarded proposals go in a payload of their own, sent only on the
   * connection the transport has or is dialling (ReadyTransport.send): one that never goes out
   * is reported as unsent.
   */
  private send(msgs: readonly Message[], early: boolean | null): void {
    if (msgs.length === 0) return;
    if (msgs.length === 1) {
      const m = msgs[0];
      if (early !== null && sentBeforeSync.has(m.type) !== early) return;
      if (m.type !== "prop") this.sendPayload(m.to, msgs);
      else this.sendProposals(m.to, msgs);
      return;
    }
    const byPeer = new Map<NodeId, Message[]>();
    let props: Map<NodeId, Message[]> | null = null;
    for (const m of msgs) {
      if (early !== null && sentBeforeSync.has(m.type) !== early) continue;
      let into = byPeer;
      if (m.type === "prop") {
        props ??= new Map();
        into = props;
      }
      const list = into.get(m.to);
      if (list === undefined) into.set(m.to, [m]);
      else list.push(m);
    }
    for (const [to, list] of byPeer) this.sendPayload(to, list);
    if (props !== null) for (const [to, list] of props) this.sendProposals(to, list);
  }

  /** Sends one peer's messages in one payload; a snapshot among them is watched for loss. */
  private sendPayload(to: NodeId, msgs: readonly Message[]): void {
    const h = this.handler;
    // Only a payload carrying a snapshot pays for a list and a callback (a leader's appends and
    // heartbeats do not).
    let snaps: number[] | undefined;
    if (h.snapshotLost !== undefined) {
      for (const m of msgs) {
        if (m.type !== "snap" || m.snapshot === undefined) continue;
        if (snaps === undefined) snaps = [m.snapshot.meta.index];
        else snaps.push(m.snapshot.meta.index);
      }
    }
    if (snaps === undefined) {
      this.transport.send(to, encodeMessages(msgs));
      return;
    }
    const indexes = snaps;
    // Only a queued payload dropped later is reported. A refused send (false: oversized, cut,
    // no address, stopped) is not: it would be refused again at once, and the follower that
    // still answers heartbeats (oversized) would be sent the snapshot at every answer. It waits
    // for the snapshot's own retry.
    this.transport.send(to, encodeMessages(msgs), undefined, () => {
      for (const i of indexes) h.snapshotLost?.(to, i);
    });
  }

  private sendProposals(to: NodeId, props: readonly Message[]): void {
    const h = this.handler;
    if (h.unsent === undefined) {
      this.transport.send(to, encodeMessages(props));
      return;
    }
    const unsent = () => h.unsent?.(props);
    if (!this.transport.send(to, encodeMessages(props), unsent)) unsent();
  }
}
