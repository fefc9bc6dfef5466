// The Raft driver: owns the tick timer, the file storage and the TCP transport, and runs the
// Ready loop the core prescribes (core/ready.ts): persist (snapshot, entries, hard state) with
// ONE sync, then send, then apply committed entries to the state machine in order, then
// advance. It takes a snapshot every N applied entries and compacts the log, and turns
// proposals and linearizable reads into promises.
//
// Entries carry a small envelope (driver/envelope.ts) so the driver recognises its own
// proposals when they are applied (followers forward proposals, so the index is unknown at
// proposal time) and so peer addresses replicate through the log with addLearner().
import { randomInt } from "node:crypto";
import { EventEmitter } from "node:events";
import {
  BOOTSTRAP_HARD_STATE,
  bootstrapSnapshot,
  decodeMessages,
  encodeMessages,
  type Message,
  type MessageType,
  ProposalDropped,
  RaftNode,
  type Ready,
  type Role,
} from "./core/index.js";
import {
  ENTRY_HEADER,
  type EntryHeader,
  KIND_ADDRESS,
  KIND_COMMAND,
  readEntryHeader,
  unwrapSnapshot,
  wrapEntry,
  wrapSnapshot,
} from "./driver/envelope.js";
import { DriverError } from "./driver/errors.js";
import { FileStorage, type FileStorageOptions } from "./storage/index.js";
import {
  parseAddress,
  TcpTransport,
  type TcpTransportOptions,
  type TransportStats,
} from "./transport/index.js";
import type { ConfChange, NodeId, Snapshot } from "./types.js";

export { DriverError, type DriverErrorCode } from "./driver/errors.js";

/** The replicated state machine. apply() must be deterministic; restore(empty) resets it. */
export interface StateMachine {
  apply(entry: { index: number; term: number; data: Uint8Array }): unknown;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}

export interface RaftDriverOptions {
  id: NodeId;
  /** Directory of the WAL and snapshots (created if missing). */
  dataDir: string;
  /** The cluster's shared secret (>= 16 bytes); authenticates every transport frame. */
  secret: string | Uint8Array;
  /** id -> "host:port" of the members this node knows; its own entry is where it listens. */
  peers: Readonly<Record<NodeId, string>>;
  /** Listen address; default: this node's entry in `peers`. */
  listen?: { host?: string; port?: number };
  /**
   * Voters of a brand-new cluster (the same list on every founding member). Ignored when the
   * data directory already holds state. Without it an empty node waits to be added (learner).
   */
  bootstrap?: readonly NodeId[];
  stateMachine: StateMachine;
  /** Tick and heartbeat interval; default 100 ms. */
  heartbeatMs?: number;
  /** Election timeout; a follower campaigns after a random time in [electionMs, 2*electionMs). Default 1000. */
  electionMs?: number;
  /** Take a snapshot after this many applied entries; default 10000. */
  snapshotEvery?: number;
  /** Entries kept behind a snapshot so slightly lagging followers avoid a snapshot; default 1000. */
  compactMargin?: number;
  /** Proposals, reads and conf changes reject with TIMEOUT after this long; default 5000 ms. */
  requestTimeoutMs?: number;
  /** fsync the WAL on every group commit; default true. */
  fsync?: boolean;
  /** Seed of the core's election-timeout PRNG; default random. */
  seed?: number;
  storage?: Omit<FileStorageOptions, "fsync" | "onWarning">;
  transport?: Omit<TcpTransportOptions, "id" | "secret" | "host" | "port" | "peers" | "onMessage">;
  onWarning?: (message: string) => void;
}

export interface PeerStatus {
  address: string;
  connected: boolean;
  /** Leader only: highest index known replicated on the peer. */
  match?: number;
  next?: number;
}

export interface DriverStatus {
  id: NodeId;
  role: Role;
  term: number;
  leader: NodeId;
  commitIndex: number;
  appliedIndex: number;
  firstIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  voters: readonly NodeId[];
  learners: readonly NodeId[];
  peers: Record<NodeId, PeerStatus>;
}

interface Pending {
  resolve: (index: number) => void;
  reject: (err: Error) => void;
  deadline: number;
  /** Leader the proposal went to ("" = this node as leader). */
  via: NodeId;
  index: number;
}

interface ConfPending {
  term: number;
  resolve: (index: number) => void;
  reject: (err: Error) => void;
  deadline: number;
}

interface ReadWaiter {
  resolve: (index: number) => void;
  reject: (err: Error) => void;
  deadline: number;
}

/**
 * Application messages share the authenticated transport with Raft traffic: a payload that
 * starts with these bytes ("SA" + version) is not a Raft batch ("RF" ...) but opaque bytes for
 * the application, delivered as an "appMessage" event with the authenticated sender. They are
 * never stepped into Raft and never persisted; delivery is best effort (dropped while cut).
 */
const APP_MAGIC_0 = 0x53;
const APP_MAGIC_1 = 0x41;
const APP_VERSION = 1;
const APP_HEADER = 3;
/** Largest application message body sendAppMessage accepts. */
export const MAX_APP_MESSAGE_BYTES = 1024 * 1024;

/** Events: "leaderChange" (leader, term), "roleChange" (role), "applied" (lastAppliedIndex), "appMessage" (from, body), "fatal" (error), "warning" (message). */
export class RaftDriver extends EventEmitter {
  readonly id: NodeId;
  private readonly opts: RaftDriverOptions;
  private readonly sm: StateMachine;
  private readonly heartbeatMs: number;
  private readonly electionMs: number;
  private readonly snapshotEvery: number;
  private readonly compactMargin: number;
  private readonly timeoutMs: number;
  private readonly sessionHi = randomInt(0, 2 ** 32);
  private readonly sessionLo = randomInt(0, 2 ** 32);
  private readonly header: EntryHeader = { kind: 0, sessionHi: 0, sessionLo: 0, seq: 0 };

  private storageRef: FileStorage | null = null;
  private transportRef: TcpTransport | null = null;
  private nodeRef: RaftNode | null = null;
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private stopped = false;
  private pumping = false;
  private pumpScheduled = false;
  private pumpDone: Promise<void> = Promise.resolve();
  private readonly pumpBound = () => {
    this.pumpScheduled = false;
    this.startPump();
  };

  private addresses: Record<NodeId, string> = {};
  private role: Role = "follower";
  private lead: NodeId = "";
  private applied = 0;
  private snapIndex = 0;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly byIndex = new Map<number, number>();
  private readonly confPending = new Map<number, ConfPending>();
  private readSeq = 0;
  private readBatch: ReadWaiter[] = [];
  private readonly readsIssued = new Map<number, ReadWaiter[]>();
  private readsWaiting: { index: number; waiters: ReadWaiter[] }[] = [];
  private readonly transfers: {
    to: NodeId;
    resolve: () => void;
    reject: (e: Error) => void;
    deadline: number;
  }[] = [];
  /** Messages whose claimed sender differs from the authenticated one, and undecodable payloads. */
  readonly counters = {
    spoofedMessages: 0,
    undecodablePayloads: 0,
    stepErrors: 0,
    applyErrors: 0,
    snapshotsTaken: 0,
    appMessagesReceived: 0,
    appMessagesSent: 0,
    /** Application payloads with an unknown version or over MAX_APP_MESSAGE_BYTES. */
    appMessagesRejected: 0,
  };

  constructor(opts: RaftDriverOptions) {
    super();
    if (!opts.id) throw new DriverError("BAD_ARGUMENT", "driver: id is required");
    this.id = opts.id;
    this.opts = opts;
    this.sm = opts.stateMachine;
    this.heartbeatMs = opts.heartbeatMs ?? 100;
    this.electionMs = opts.electionMs ?? 1000;
    if (!(this.heartbeatMs > 0) || !(this.electionMs >= 2 * this.heartbeatMs)) {
      throw new DriverError("BAD_ARGUMENT", "driver: need heartbeatMs > 0 and electionMs >= 2 * heartbeatMs");
    }
    this.snapshotEvery = opts.snapshotEvery ?? 10_000;
    this.compactMargin = opts.compactMargin ?? 1_000;
    this.timeoutMs = opts.requestTimeoutMs ?? 5_000;
    for (const [id, addr] of Object.entries(opts.peers)) {
      parseAddress(addr);
      this.addresses[id] = addr;
    }
  }

  get storage(): FileStorage {
    if (this.storageRef === null) throw new DriverError("STOPPED", "driver not started");
    return this.storageRef;
  }

  /** The transport, for fault injection (cut/heal) and its stats. */
  get transport(): TcpTransport {
    if (this.transportRef === null) throw new DriverError("STOPPED", "driver not started");
    return this.transportRef;
  }

  private get node(): RaftNode {
    return this.nodeRef as RaftNode;
  }

  /** Opens storage (recovering it), restores the state machine, starts the transport and the tick timer. */
  async start(): Promise<void> {
    if (this.started) throw new DriverError("BAD_ARGUMENT", "driver already started");
    this.started = true;
    const warn = (m: string) => this.warn(m);
    const storage = await FileStorage.open(this.opts.dataDir, {
      ...this.opts.storage,
      fsync: this.opts.fsync ?? true,
      onWarning: warn,
    });
    this.storageRef = storage;
    if (storage.lastIndex() === 0 && storage.snapshot().meta.index === 0 && this.opts.bootstrap?.length) {
      await storage.applySnapshot(bootstrapSnapshot({ voters: [...this.opts.bootstrap], learners: [] }));
      storage.setHardState(BOOTSTRAP_HARD_STATE);
      await storage.sync();
    }
    const snap = storage.snapshot();
    if (snap.meta.index > 0) this.restoreSnapshot(snap, true);
    this.applied = snap.meta.index;
    this.snapIndex = snap.meta.index;
    const tick = this.opts.electionMs ?? 1000;
    this.nodeRef = new RaftNode({
      id: this.id,
      storage,
      seed: this.opts.seed ?? randomInt(0, 2 ** 31),
      electionTick: Math.max(2, Math.round(tick / this.heartbeatMs)),
      heartbeatTick: 1,
      applied: snap.meta.index,
    });
    let host = this.opts.listen?.host;
    let port = this.opts.listen?.port;
    const own = this.addresses[this.id];
    if (own !== undefined && port === undefined) {
      const a = parseAddress(own);
      host ??= a.host;
      port = a.port;
    }
    const peers: Record<string, string> = {};
    for (const [id, addr] of Object.entries(this.addresses)) if (id !== this.id) peers[id] = addr;
    const transport = new TcpTransport({
      ...this.opts.transport,
      id: this.id,
      secret: this.opts.secret,
      host,
      port,
      peers,
      onMessage: (from, payload) => this.onPayload(from, payload),
    });
    this.transportRef = transport;
    const bound = await transport.start();
    if (own === undefined) this.addresses[this.id] = bound;
    this.timer = setInterval(() => this.onTick(), this.heartbeatMs);
    this.kick();
  }

  /** Stops ticking, finishes the Ready in progress, closes transport and storage; pending requests reject with STOPPED. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.pumpDone.catch(() => {});
    this.failAll(new DriverError("STOPPED", "driver stopped"));
    await this.transportRef?.stop();
    await this.storageRef?.close().catch(() => {});
  }

  private warn(message: string): void {
    this.opts.onWarning?.(message);
    this.emit("warning", message);
  }

  private fatal(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.failAll(new DriverError("FATAL", `raft node ${this.id} stopped: ${e.message}`));
    if (this.listenerCount("fatal") > 0) this.emit("fatal", e);
    else this.warn(`fatal: ${e.message}`);
    void this.stop();
  }

  // ---------------------------------------------------------------- inputs

  private onTick(): void {
    if (this.stopped) return;
    this.node.tick();
    this.sweepTimeouts(Date.now());
    this.kick();
  }

  private onPayload(from: string, payload: Buffer): void {
    if (this.stopped || this.nodeRef === null) return;
    if (payload.length >= 2 && payload[0] === APP_MAGIC_0 && payload[1] === APP_MAGIC_1) {
      this.onAppPayload(from, payload);
      return;
    }
    let msgs: Message[];
    try {
      msgs = decodeMessages(payload);
    } catch {
      this.counters.undecodablePayloads++;
      return;
    }
    for (const m of msgs) {
      // The transport authenticated `from`; a message claiming another sender is forged.
      if (m.from !== from) {
        this.counters.spoofedMessages++;
        continue;
      }
      try {
        this.node.step(m);
      } catch (err) {
        this.counters.stepErrors++;
        this.warn(`step ${m.type} from ${from}: ${(err as Error).message}`);
      }
    }
    this.kick();
  }

  private onAppPayload(from: string, payload: Buffer): void {
    if (payload.length < APP_HEADER || payload[2] !== APP_VERSION) {
      this.counters.appMessagesRejected++;
      return;
    }
    const body = payload.subarray(APP_HEADER);
    if (body.length > MAX_APP_MESSAGE_BYTES) {
      this.counters.appMessagesRejected++;
      return;
    }
    this.counters.appMessagesReceived++;
    try {
      this.emit("appMessage", from, body);
    } catch (err) {
      this.warn(`appMessage listener threw: ${(err as Error).message}`);
    }
  }

  /**
   * Sends opaque bytes to peer `to` over the authenticated transport (best effort: no
   * retry, dropped while the peer is cut or unreachable; returns false when dropped at once). The receiver gets an "appMessage"
   * event (from, body) with `from` as the transport authenticated it.
   */
  sendAppMessage(to: NodeId, body: Uint8Array): boolean {
    this.checkRunning();
    if (!(body instanceof Uint8Array))
      throw new DriverError("BAD_ARGUMENT", "sendAppMessage: body must be a Uint8Array");
    if (body.length > MAX_APP_MESSAGE_BYTES)
      throw new DriverError("BAD_ARGUMENT", `sendAppMessage: body over ${MAX_APP_MESSAGE_BYTES} bytes`);
    if (to === this.id) throw new DriverError("BAD_ARGUMENT", "sendAppMessage: cannot send to self");
    const out = Buffer.allocUnsafe(APP_HEADER + body.length);
    out[0] = APP_MAGIC_0;
    out[1] = APP_MAGIC_1;
    out[2] = APP_VERSION;
    out.set(body, APP_HEADER);
    const sent = this.transport.send(to, out);
    if (sent) this.counters.appMessagesSent++;
    return sent;
  }

  private kick(): void {
    if (this.pumpScheduled || this.stopped || this.nodeRef === null) return;
    this.pumpScheduled = true;
    // Deferred so that everything arriving in this turn of the event loop joins one Ready.
    setImmediate(this.pumpBound);
  }

  private startPump(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    this.pumpDone = this.pump().then(
      () => {
        this.pumping = false;
      },
      (err) => {
        this.pumping = false;
        this.fatal(err);
      },
    );
  }

  // ---------------------------------------------------------------- the Ready loop

  private async pump(): Promise<void> {
    const node = this.node;
    const storage = this.storage;
    while (!this.stopped && node.hasReady()) {
      const rd = node.ready();
      // As in etcd (MustSync), a hard state whose only change is the commit index needs no
      // fsync of its own: commit can be re-learned from the leader.
      const prev = storage.hardState();
      const hs = rd.hardState;
      const snap = rd.snapshot;
      const voteChanged = hs !== undefined && (hs.term !== prev.term || hs.vote !== prev.vote);
      const mustSync = snap !== undefined || rd.entries.length > 0 || voteChanged;
      // Requests that promise nothing about this node's disk (a leader's appends and
      // heartbeats, forwarded proposals) go out while the entries are being fsynced (thesis
      // §10.2.1; etcd's doc.go allows the same): the leader counts itself towards a quorum only
      // after advance(), so a crash before the fsync cannot commit anything it lacks.
      const early = mustSync && !voteChanged && snap === undefined;
      if (early) this.send(rd.messages, true);
      // Committed entries are durable on a quorum already, so applying them need not wait for
      // this Ready's own writes (etcd applies concurrently with its WAL save). With a snapshot
      // the strict order holds: persist it, then restore it, then apply what follows it.
      if (snap === undefined) this.applyReady(rd);
      // 1. persist, one sync for the whole Ready
      if (snap) await storage.applySnapshot(snap);
      if (rd.entries.length > 0) storage.append(rd.entries);
      if (hs) storage.setHardState(hs);
      if (mustSync) await storage.sync();
      // 2. send what may promise durability (responses, votes) only now
      this.send(rd.messages, early ? false : null);
      // 3. apply
      if (snap) {
        this.restoreSnapshot(snap, false);
        this.applyReady(rd);
      }
      // 4. advance
      node.advance(rd);
      if (this.applied - this.snapIndex >= this.snapshotEvery) await this.takeSnapshot();
    }
  }

  /** Sends `input` grouped per peer; `early` true/false sends only those that may/may not precede the fsync, null all. */
  private applyReady(rd: Ready): void {
    if (rd.committedEntries.length > 0) this.applyEntries(rd);
    if (rd.softState) this.onSoftState(rd.softState.role, rd.softState.lead);
    if (rd.readStates.length > 0) this.onReadStates(rd);
    this.serveReads();
  }

  private send(input: readonly Message[], early: boolean | null): void {
    if (input.length === 0) return;
    const msgs = numberForwardedProposals(input);
    const t = this.transport;
    if (msgs.length === 1 && (early === null || EARLY_TYPES.has(msgs[0].type) === early)) {
      t.send(msgs[0].to, encodeMessages(msgs));
      return;
    }
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of msgs) {
      if (early !== null && EARLY_TYPES.has(m.type) !== early) continue;
      const list = byPeer.get(m.to);
      if (list === undefined) byPeer.set(m.to, [m]);
      else list.push(m);
    }
    for (const [to, list] of byPeer) t.send(to, encodeMessages(list));
  }

  private restoreSnapshot(snap: Snapshot, atStart: boolean): void {
    const { addresses, state } = unwrapSnapshot(snap.data);
    for (const [id, addr] of Object.entries(addresses)) {
      // At start the operator's configured addresses win; later the log's are newer.
      if (atStart && this.addresses[id] !== undefined) continue;
      this.setAddress(id, addr);
    }
    this.sm.restore(state);
    this.applied = snap.meta.index;
    this.snapIndex = Math.max(this.snapIndex, snap.meta.index);
    if (!atStart) {
      for (const [index, seq] of this.byIndex) {
        if (index > snap.meta.index) continue;
        this.byIndex.delete(index);
        this.rejectPending(
          seq,
          new DriverError("LEADERSHIP_LOST", "replaced by a snapshot from the leader; outcome unknown"),
        );
      }
    }
  }

  private applyEntries(rd: Ready): void {
    const h = this.header;
    for (const e of rd.committedEntries) {
      if (e.index <= this.applied) continue;
      this.applied = e.index;
      const mine = this.byIndex.get(e.index);
      if (mine !== undefined) this.byIndex.delete(e.index);
      if (e.type === "conf") {
        const c = this.confPending.get(e.index);
        if (c !== undefined) {
          this.confPending.delete(e.index);
          if (c.term === e.term) c.resolve(e.index);
          else c.reject(new DriverError("LEADERSHIP_LOST", "conf change was overwritten by a new leader"));
        }
        continue;
      }
      if (e.data.length === 0) continue; // a new leader's empty entry
      if (!readEntryHeader(e.data, h)) {
        this.warn(`entry ${e.index} is not a driver envelope; skipped`);
        continue;
      }
      const own = h.sessionHi === this.sessionHi && h.sessionLo === this.sessionLo;
      if (mine !== undefined && (!own || h.seq !== mine)) {
        this.rejectPending(mine, new DriverError("LEADERSHIP_LOST", "entry overwritten by a new leader"));
      }
      let result: unknown;
      let failure: Error | null = null;
      if (h.kind === KIND_COMMAND) {
        try {
          result = this.sm.apply({ index: e.index, term: e.term, data: e.data.subarray(ENTRY_HEADER) });
        } catch (err) {
          this.counters.applyErrors++;
          failure = err instanceof Error ? err : new Error(String(err));
        }
      } else if (h.kind === KIND_ADDRESS) {
        this.applyAddress(e.data.subarray(ENTRY_HEADER));
      }
      void result;
      if (own) {
        const p = this.pending.get(h.seq);
        if (p !== undefined) {
          this.pending.delete(h.seq);
          if (failure) p.reject(failure);
          else p.resolve(e.index);
        }
      }
    }
    this.emit("applied", this.applied);
  }

  private applyAddress(body: Uint8Array): void {
    try {
      const rec = JSON.parse(Buffer.from(body).toString("utf8")) as { id?: unknown; address?: unknown };
      if (typeof rec.id === "string" && typeof rec.address === "string") this.setAddress(rec.id, rec.address);
    } catch {
      this.warn("undecodable address record skipped");
    }
  }

  private setAddress(id: NodeId, address: string): void {
    try {
      parseAddress(address);
    } catch {
      this.warn(`bad address ${address} for ${id} ignored`);
      return;
    }
    this.addresses[id] = address;
    if (id !== this.id) this.transportRef?.setPeer(id, address);
  }

  private onSoftState(role: Role, lead: NodeId): void {
    const roleChanged = role !== this.role;
    const leadChanged = lead !== this.lead;
    const wasLeader = this.role === "leader";
    this.role = role;
    this.lead = lead;
    if (roleChanged) this.emit("roleChange", role);
    if (!leadChanged && !(wasLeader && roleChanged)) return;
    if (leadChanged) this.emit("leaderChange", lead, this.node.status().term);
    // Proposals that went through a leader we no longer follow may or may not commit.
    for (const [seq, p] of this.pending) {
      const via = p.via === "" ? this.id : p.via;
      if (via !== lead || (p.via === "" && role !== "leader")) {
        this.pending.delete(seq);
        if (p.index > 0) this.byIndex.delete(p.index);
        p.reject(
          new DriverError("LEADERSHIP_LOST", `leader changed (now ${lead || "none"}); outcome unknown`, lead),
        );
      }
    }
    if (role !== "leader") {
      for (const [i, c] of this.confPending) {
        this.confPending.delete(i);
        c.reject(new DriverError("LEADERSHIP_LOST", "leadership lost; conf change outcome unknown", lead));
      }
    }
    for (const [key, ws] of this.readsIssued) {
      this.readsIssued.delete(key);
      for (const w of ws)
        w.reject(new DriverError("LEADERSHIP_LOST", "leader changed during a read; retry", lead));
    }
    for (let i = this.transfers.length - 1; i >= 0; i--) {
      if (this.transfers[i].to === lead) {
        this.transfers[i].resolve();
        this.transfers.splice(i, 1);
      }
    }
  }

  private onReadStates(rd: Ready): void {
    for (const rs of rd.readStates) {
      if (rs.ctx.length !== 8) continue;
      const v = new DataView(rs.ctx.buffer, rs.ctx.byteOffset, 8);
      if (v.getUint32(0) !== this.sessionLo) continue;
      const key = v.getUint32(4);
      const waiters = this.readsIssued.get(key);
      if (waiters === undefined) continue;
      this.readsIssued.delete(key);
      this.readsWaiting.push({ index: rs.index, waiters });
    }
  }

  private serveReads(): void {
    if (this.readsWaiting.length === 0) return;
    const keep: { index: number; waiters: ReadWaiter[] }[] = [];
    for (const r of this.readsWaiting) {
      if (r.index <= this.applied) for (const w of r.waiters) w.resolve(r.index);
      else keep.push(r);
    }
    this.readsWaiting = keep;
  }

  private async takeSnapshot(): Promise<void> {
    const storage = this.storage;
    const index = this.applied;
    const snap: Snapshot = {
      meta: { index, term: storage.term(index), conf: this.node.confStateAt(index) },
      data: wrapSnapshot(this.addresses, this.sm.snapshot()),
    };
    await storage.saveSnapshot(snap);
    this.snapIndex = index;
    this.counters.snapshotsTaken++;
    const upTo = index - this.compactMargin;
    if (upTo >= storage.firstIndex()) await storage.compact(upTo);
  }

  // ---------------------------------------------------------------- requests

  private checkRunning(): void {
    if (!this.started || this.nodeRef === null) throw new DriverError("STOPPED", "driver not started");
    if (this.stopped) throw new DriverError("STOPPED", "driver stopped");
  }

  private dropped(err: unknown): DriverError {
    if (err instanceof ProposalDropped) {
      if (err.reason === "no leader known")
        return new DriverError("NO_LEADER", "no leader known; retry later");
      if (err.reason === "not the leader") return new DriverError("NOT_LEADER", "not the leader", this.lead);
      return new DriverError("DROPPED", `proposal dropped: ${err.reason}`, this.lead);
    }
    return err instanceof DriverError ? err : new DriverError("DROPPED", String(err));
  }

  /** Replicates `command`; resolves with its log index once this node has applied it. */
  propose(command: Uint8Array): Promise<number> {
    if (!(command instanceof Uint8Array)) {
      return Promise.reject(new DriverError("BAD_ARGUMENT", "propose: command must be a Uint8Array"));
    }
    return this.proposeKind(KIND_COMMAND, command);
  }

  private proposeKind(kind: number, body: Uint8Array): Promise<number> {
    try {
      this.checkRunning();
    } catch (err) {
      return Promise.reject(err);
    }
    this.seq = (this.seq + 1) >>> 0;
    const seq = this.seq;
    let r: { forwarded: boolean; index: number };
    try {
      r = this.node.propose(wrapEntry(kind, this.sessionHi, this.sessionLo, seq, body));
    } catch (err) {
      return Promise.reject(this.dropped(err));
    }
    this.kick();
    return new Promise<number>((resolve, reject) => {
      this.pending.set(seq, {
        resolve,
        reject,
        deadline: Date.now() + this.timeoutMs,
        via: r.forwarded ? this.lead : "",
        index: r.index,
      });
      if (!r.forwarded) this.byIndex.set(r.index, seq);
    });
  }

  /** Linearizable read barrier (ReadIndex): resolves with the read index once this node applied it. */
  read(): Promise<number> {
    try {
      this.checkRunning();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<number>((resolve, reject) => {
      this.readBatch.push({ resolve, reject, deadline: Date.now() + this.timeoutMs });
      if (this.readBatch.length === 1) setImmediate(() => this.issueReads());
    });
  }

  private issueReads(): void {
    const batch = this.readBatch;
    this.readBatch = [];
    if (batch.length === 0 || this.stopped) {
      for (const w of batch) w.reject(new DriverError("STOPPED", "driver stopped"));
      return;
    }
    // One ReadIndex round serves every read that arrived in the same turn.
    this.readSeq = (this.readSeq + 1) >>> 0;
    const ctx = Buffer.allocUnsafe(8);
    ctx.writeUInt32BE(this.sessionLo, 0);
    ctx.writeUInt32BE(this.readSeq, 4);
    try {
      this.node.readIndex(ctx);
    } catch (err) {
      const e = this.dropped(err);
      for (const w of batch) w.reject(e);
      return;
    }
    this.readsIssued.set(this.readSeq, batch);
    this.kick();
  }

  private confChange(cc: ConfChange): Promise<number> {
    try {
      this.checkRunning();
      if (this.role !== "leader")
        throw new DriverError("NOT_LEADER", "membership changes go to the leader", this.lead);
      const r = this.node.proposeConfChange(cc);
      this.kick();
      return new Promise<number>((resolve, reject) => {
        this.confPending.set(r.index, {
          term: r.term,
          resolve,
          reject,
          deadline: Date.now() + this.timeoutMs,
        });
      });
    } catch (err) {
      return Promise.reject(this.dropped(err));
    }
  }

  /** Leader only: replicates `address` for `id`, then adds `id` as a learner. Resolves with the conf entry's index. */
  async addLearner(id: NodeId, address: string): Promise<number> {
    if (!id) throw new DriverError("BAD_ARGUMENT", "addLearner: id is required");
    try {
      parseAddress(address);
    } catch (err) {
      throw new DriverError("BAD_ARGUMENT", `addLearner: ${(err as Error).message}`);
    }
    if (this.role !== "leader")
      throw new DriverError("NOT_LEADER", "membership changes go to the leader", this.lead);
    await this.proposeKind(KIND_ADDRESS, Buffer.from(JSON.stringify({ id, address })));
    return this.confChange({ type: "addLearner", node: id });
  }

  /** Leader only: makes learner `id` a voter. */
  promote(id: NodeId): Promise<number> {
    return this.confChange({ type: "addVoter", node: id });
  }

  /** Leader only: removes voter or learner `id`. */
  removeMember(id: NodeId): Promise<number> {
    return this.confChange({ type: "removeNode", node: id });
  }

  /** Leader only: hands leadership to voter `id`; resolves once this node sees `id` lead. */
  transferLeadership(id: NodeId): Promise<void> {
    try {
      this.checkRunning();
      this.node.transferLeadership(id);
    } catch (err) {
      return Promise.reject(this.dropped(err));
    }
    if (this.lead === id) return Promise.resolve();
    this.kick();
    return new Promise<void>((resolve, reject) => {
      this.transfers.push({ to: id, resolve, reject, deadline: Date.now() + 2 * this.electionMs });
    });
  }

  /** Sets the address of a peer locally (not replicated; addLearner replicates). */
  setPeerAddress(id: NodeId, address: string): void {
    parseAddress(address);
    this.setAddress(id, address);
  }

  peerAddresses(): Record<NodeId, string> {
    return { ...this.addresses };
  }

  status(): DriverStatus {
    this.checkRunning();
    const s = this.node.status();
    const t: TransportStats = this.transport.stats();
    const peers: Record<NodeId, PeerStatus> = {};
    for (const id of [...s.conf.voters, ...s.conf.learners]) {
      if (id === this.id) continue;
      const pr = s.progress.get(id);
      const ps: PeerStatus = {
        address: this.addresses[id] ?? "",
        connected: t.peers[id]?.connected ?? false,
      };
      if (pr) {
        ps.match = pr.match;
        ps.next = pr.next;
      }
      peers[id] = ps;
    }
    return {
      id: this.id,
      role: s.role,
      term: s.term,
      leader: s.lead,
      commitIndex: s.commit,
      appliedIndex: this.applied,
      firstIndex: s.firstIndex,
      lastIndex: s.lastIndex,
      snapshotIndex: this.snapIndex,
      voters: s.conf.voters,
      learners: s.conf.learners,
      peers,
    };
  }

  // ---------------------------------------------------------------- failures

  private rejectPending(seq: number, err: Error): void {
    const p = this.pending.get(seq);
    if (p === undefined) return;
    this.pending.delete(seq);
    p.reject(err);
  }

  private sweepTimeouts(now: number): void {
    // Every map is in insertion order with one fixed timeout, so deadlines ascend.
    for (const [seq, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(seq);
      if (p.index > 0) this.byIndex.delete(p.index);
      p.reject(
        new DriverError(
          "TIMEOUT",
          `proposal not applied within ${this.timeoutMs} ms; outcome unknown`,
          this.lead,
        ),
      );
    }
    for (const [i, c] of this.confPending) {
      if (c.deadline > now) break;
      this.confPending.delete(i);
      c.reject(new DriverError("TIMEOUT", `conf change not applied within ${this.timeoutMs} ms`, this.lead));
    }
    for (const [key, ws] of this.readsIssued) {
      if (ws[0].deadline > now) break;
      this.readsIssued.delete(key);
      for (const w of ws)
        w.reject(new DriverError("TIMEOUT", `read not confirmed within ${this.timeoutMs} ms`, this.lead));
    }
    if (this.readsWaiting.length > 0 && this.readsWaiting[0].waiters[0].deadline <= now) {
      const keep: { index: number; waiters: ReadWaiter[] }[] = [];
      for (const r of this.readsWaiting) {
        if (r.waiters[0].deadline > now) keep.push(r);
        else
          for (const w of r.waiters)
            w.reject(new DriverError("TIMEOUT", "read index not applied in time", this.lead));
      }
      this.readsWaiting = keep;
    }
    for (let i = this.transfers.length - 1; i >= 0; i--) {
      const tr = this.transfers[i];
      if (tr.deadline > now) continue;
      this.transfers.splice(i, 1);
      tr.reject(new DriverError("TIMEOUT", `leadership did not move to ${tr.to} in time`, this.lead));
    }
  }

  private failAll(err: DriverError): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.byIndex.clear();
    for (const c of this.confPending.values()) c.reject(err);
    this.confPending.clear();
    for (const ws of this.readsIssued.values()) for (const w of ws) w.reject(err);
    this.readsIssued.clear();
    for (const r of this.readsWaiting) for (const w of r.waiters) w.reject(err);
    this.readsWaiting = [];
    for (const w of this.readBatch) w.reject(err);
    this.readBatch = [];
    for (const t of this.transfers) t.reject(err);
    this.transfers.length = 0;
  }
}

/** Message types whose sending does not depend on this node's pending writes being durable. */
const EARLY_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  "app",
  "heartbeat",
  "prop",
  "readIndex",
  "timeoutNow",
]);

/**
 * Workaround: the core forwards a follower's proposal as a "prop" message whose entries have
 * index 0, but its codec rejects index 0 ("entry index 0"), so forwarded proposals would be
 * dropped by the leader as undecodable. The leader re-numbers proposed entries anyway
 * (appendEntries), so give them placeholder consecutive indexes 1..n for the wire.
 */
function numberForwardedProposals(msgs: readonly Message[]): readonly Message[] {
  let out: Message[] | null = null;
  for (let k = 0; k < msgs.length; k++) {
    const m = msgs[k];
    if (m.type !== "prop" || m.entries.length === 0 || m.entries[0].index !== 0) continue;
    out ??= msgs.slice();
    out[k] = { ...m, entries: m.entries.map((e, i) => ({ ...e, index: i + 1 })) };
  }
  return out ?? msgs;
}
