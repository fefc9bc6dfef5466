// The Raft driver: owns the tick timer, the file storage and the TCP transport, runs the core's
// Ready loop (driver/ready-loop.ts), applies committed entries to the state machine in order,
// snapshots it every N entries (driver/snapshots.ts), and turns proposals, linearizable reads,
// membership changes and leadership transfers into promises (driver/requests.ts). It also
// carries the application's own messages over the authenticated transport
// (driver/app-messages.ts).
//
// Entries carry a small envelope (driver/envelope.ts) so the driver recognises its own
// proposals when they are applied (followers forward proposals, so the index is unknown at
// proposal time) and so peer addresses replicate through the log with addLearner().
import { randomInt } from "node:crypto";
import { EventEmitter } from "node:events";
import {
  BOOTSTRAP_HARD_STATE,
  bootstrapSnapshot,
  CURRENT_LEVEL,
  carriesLevel,
  confStateAfter,
  decodeMessages,
  incarnationIn,
  isAdvertisableLevel,
  LEARNER_BEHIND,
  LEVEL_CLUSTER_ID,
  LEVEL_INCARNATION_CONF,
  LEVEL_TOO_LOW,
  type Message,
  notAVoter,
  ProposalDropped,
  RaftNode,
  READS_FULL,
  type Ready,
  type RefusalReason,
  type Role,
  UNCOMMITTED_FULL,
} from "./core/index.js";
import { AddressBook } from "./driver/address-book.js";
import {
  appPayloadBody,
  encodeAppPayload,
  isAppPayload,
  MAX_APP_MESSAGE_BYTES,
} from "./driver/app-messages.js";
import { clusterMismatch, deriveClusterId } from "./driver/cluster-identity.js";
import { ClusterLevel } from "./driver/cluster-level.js";
import { DescriptorRetry } from "./driver/descriptor-retry.js";
import {
  ENTRY_HEADER,
  type EntryHeader,
  encodeLevel,
  KIND_ADDRESS,
  KIND_COMMAND,
  KIND_INCARNATION,
  KIND_LEVEL,
  readEntryHeader,
  unwrapSnapshot,
  wrapEntry,
} from "./driver/envelope.js";
import { DriverError } from "./driver/errors.js";
import { type Identity, loadIdentity, raftIncarnation, saveIdentity } from "./driver/identity.js";
import {
  type DriverSettings,
  type RaftDriverOptions,
  resolveSettings,
  type StateMachine,
} from "./driver/options.js";
import { PendingGrowth } from "./driver/pending-growth.js";
import { ReadyLoop } from "./driver/ready-loop.js";
import { RefusalLog } from "./driver/refusal-log.js";
import { RequestTracker } from "./driver/requests.js";
import {
  type SnapshotRefusalCode,
  SnapshotRefusalLog,
  snapshotRefusalCode,
} from "./driver/snapshot-refusal-log.js";
import { takeSnapshot } from "./driver/snapshots.js";
import { buildStatus, type DriverStatus } from "./driver/status.js";
import { FileStorage, isNoDescriptor } from "./storage/index.js";
import { type OversizedEvent, parseAddress, type RejectEvent, TcpTransport } from "./transport/index.js";
import type { ConfChange, NodeId, Snapshot } from "./types.js";

export { MAX_APP_MESSAGE_BYTES } from "./driver/app-messages.js";
export { DriverError, type DriverErrorCode } from "./driver/errors.js";
export type { RaftDriverOptions, StateMachine } from "./driver/options.js";
export type { DriverStatus, PeerStatus } from "./driver/status.js";

/**
 * Encoded state bytes one command byte may add at most, taken generously (a member of ~30
 * command bytes becomes ~170 in the state, a pool's defaults add a few hundred bytes to a
 * short pool entry, and a reload keeps the routing as well as the pools).
 */
const STATE_GROWTH_PER_BYTE = 64;

/** The refusal's words for the growth of the proposals in flight, when there is any. */
const pendingNote = (pending: number): string =>
  pending > 0 ? ` (plus up to ${pending} from the proposals appended and not applied yet)` : "";

/** How long a snapshot that found no file descriptor waits before it is tried again. */
const SNAPSHOT_RETRY_MS = 1_000;

/**
 * How long transferLeadership waits for the transferee to lead: as etcd's move-leader, a
 * request timeout on top of two election timeouts, so a loaded machine's slow attempt is
 * retried rather than reported as failed.
 */
export function transferTimeoutMs(electionMs: number): number {
  return 5_000 + 2 * electionMs;
}

/** Events: "leaderChange" (leader, term), "roleChange" (role), "applied" (lastAppliedIndex), "appMessage" (from, body), "admitted" (incarnation), "memberReplaced" (id, incarnation, previous: "" for a founder's), "clusterLevel" (level), "clusterId" (id), "fatal" (error: the driver stopped, or for UPGRADE_REQUIRED it stopped applying and keeps its Raft role), "warning" (message). */
export class RaftDriver extends EventEmitter {
  readonly id: NodeId;
  private readonly opts: RaftDriverOptions;
  private readonly sm: StateMachine;
  private readonly cfg: DriverSettings;
  private readonly sessionHi = randomInt(0, 2 ** 32);
  private readonly sessionLo = randomInt(0, 2 ** 32);
  private readonly header: EntryHeader = { kind: 0, sessionHi: 0, sessionLo: 0, seq: 0 };
  private readonly book: AddressBook;
  private readonly requests: RequestTracker;

  private storageRef: FileStorage | null = null;
  private transportRef: TcpTransport | null = null;
  private nodeRef: RaftNode | null = null;
  private loop: ReadyLoop | null = null;
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private stopped = false;

  private identity: Identity = { incarnation: "", admitted: false, founder: false };
  /** The cluster id the log fixed (driver/cluster-identity.ts); "" until then. */
  private cluster = "";
  /** Set while start() replays: a mismatch there refuses the start instead of stopping the node. */
  private clusterError: DriverError | null = null;
  private role: Role = "follower";
  private lead: NodeId = "";
  private applied = 0;
  private snapIndex = 0;
  /** Bytes of entries applied since the last snapshot (see DriverOptions.snapshotBytes). */
  private bytesSinceSnap = 0;
  /** Leader: what its appended, unapplied proposals may add to the state (maxStateBytes). */
  private readonly pendingGrowth = new PendingGrowth();
  /** performance.now() before which no snapshot is tried again after one found no descriptor. */
  private snapshotRetryAt = 0;
  /** identity.json's rewrite waiting for a file descriptor (syncIdentity). */
  private readonly identityRetry = new DescriptorRetry(() => {
    try {
      this.syncIdentity();
    } catch (err) {
      this.fatal(err);
    }
  });
  private seq = 0;
  private readSeq = 0;
  /** The feature level this node advertises, and the committed cluster level (core/feature-level.ts). */
  private readonly levels: ClusterLevel;
  /** Set when a committed entry needs a later version: nothing past it is applied. */
  private upgradeBlock: DriverError | null = null;
  /** The block was reported (pending requests failed, "fatal" emitted): once per process. */
  private blockReported = false;
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
    /** Responses advertising a feature level outside [0, MAX_ADVERTISED_LEVEL]: dropped. */
    forgedLevels: 0,
    /** Leader: forwarded proposals refused for the state bound (vetForwarded). */
    forwardedTooLarge: 0,
    /** Leader: snapshots a follower refused (it could not restore them; snapStatus answers). */
    snapshotsRefusedByPeers: 0,
    /**
     * The same, by peer and the code it named: SNAPSHOT_REFUSAL_CODES, anything else as "other"
     * (a peer's text, so not a label as sent). Peers are members (the core answers no other).
     */
    snapshotsRefusedByPeer: new Map<string, Record<SnapshotRefusalCode, number>>(),
    /** Messages the core refused because of their sender (core/refusals.ts), by reason. */
    refused: {
      vote_from_non_voter: 0,
      timeout_now_not_leader: 0,
      append_from_non_member: 0,
      cluster_mismatch: 0,
      /** Snapshots refused on arrival (never installed): envelope, level or state unusable. */
      bad_snapshot: 0,
    } as Record<RefusalReason | "cluster_mismatch" | "bad_snapshot", number>,
  };
  /** Refused traffic, logged once per (peer, reason) per interval rather than per message. */
  private readonly refusals: RefusalLog;
  /** Leader: snapshots refused by followers, a line per peer per backoff step (or interval). */
  private readonly snapRefusals: SnapshotRefusalLog;
  /** Set by fatal(): nothing more is applied or snapshotted by this process. */
  private halted = false;
  /** The last snapshot a peer sent that passed snapshotRefusal, as decoded there (for its install). */
  private decoded: {
    snap: Snapshot;
    wrapped: ReturnType<typeof unwrapSnapshot>;
    state: { state: unknown } | undefined;
  } | null = null;

  constructor(opts: RaftDriverOptions) {
    super();
    this.cfg = resolveSettings(opts);
    this.id = opts.id;
    this.opts = opts;
    this.sm = opts.stateMachine;
    this.levels = new ClusterLevel(opts.level ?? CURRENT_LEVEL, (level) => {
      this.nodeRef?.setClusterLevel(level);
      this.emit("clusterLevel", level);
    });
    this.book = new AddressBook(this.id, (m) => this.warn(m));
    for (const [id, addr] of Object.entries(opts.peers)) this.book.set(id, addr);
    this.requests = new RequestTracker(this.id, this.cfg.timeoutMs);
    this.refusals = new RefusalLog(opts.refusalLogMs ?? 60_000, (m) => this.warn(m));
    this.snapRefusals = new SnapshotRefusalLog(opts.refusalLogMs ?? 60_000, (m) => this.warn(m));
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
    const storage = await FileStorage.open(this.opts.dataDir, {
      ...this.opts.storage,
      fsync: this.opts.fsync ?? true,
      onWarning: (m) => this.warn(m),
    });
    this.storageRef = storage;
    const empty = storage.lastIndex() === 0 && storage.snapshot().meta.index === 0;
    const founding = empty && (this.opts.bootstrap?.length ?? 0) > 0;
    const durable = this.opts.fsync ?? true;
    try {
      this.identity = loadIdentity(
        this.opts.dataDir,
        !empty,
        durable,
        this.opts.storage?.fs,
        () => {
          const conf = confStateAfter(
            storage.snapshot().meta.conf,
            storage.entries(storage.firstIndex(), storage.lastIndex() + 1),
          );
          const member = conf.voters.includes(this.id) || conf.learners.includes(this.id);
          return { member, incarnation: incarnationIn(conf, this.id) };
        },
        (m) => this.warn(m),
      );
    } catch (err) {
      await storage.close().catch(() => {});
      this.stopped = true;
      throw err;
    }
    if (founding) {
      // A founder is a voter of the new cluster from its first entry on (incarnation "").
      this.identity = { ...this.identity, admitted: true, founder: true };
      saveIdentity(this.opts.dataDir, this.identity, durable, this.opts.storage?.fs);
    }
    if (founding && this.opts.bootstrap) {
      await storage.applySnapshot(bootstrapSnapshot({ voters: [...this.opts.bootstrap], learners: [] }));
      storage.setHardState(BOOTSTRAP_HARD_STATE);
      await storage.sync();
    }
    // What identity.json says first, so the snapshot and the log are checked against it.
    if (this.identity.cluster !== undefined && !empty) this.cluster = this.identity.cluster;
    const snap = storage.snapshot();
    if (snap.meta.index > 0) this.restoreSnapshot(snap, true);
    this.applied = snap.meta.index;
    this.snapIndex = snap.meta.index;
    const commit = Math.max(storage.hardState().commit, this.applied);
    this.nodeRef = new RaftNode({
      id: this.id,
      storage,
      seed: this.opts.seed ?? randomInt(0, 2 ** 31),
      electionTick: Math.max(2, Math.round(this.cfg.electionMs / this.cfg.heartbeatMs)),
      heartbeatTick: 1,
      // Applied below, before start() returns.
      applied: commit,
      maxUncommittedBytes: this.opts.maxUncommittedBytes,
      incarnation: raftIncarnation(this.identity),
      level: this.levels.own,
      clusterLevel: this.levels.committed,
      vetForwarded: (data) => this.vetForwarded(data),
      onRefused: (from, reason) => {
        this.counters.refused[reason]++;
        this.refusals.note(from, reason, "no state change");
      },
      // Counted every time, logged once per backoff step: a newer snapshot is sent at once,
      // so a follower that keeps refusing is answered as often as the leader snapshots.
      onSnapshotRefused: (from, index, reason, retryInTicks) => {
        this.counters.snapshotsRefusedByPeers++;
        let byCode = this.counters.snapshotsRefusedByPeer.get(from);
        if (byCode === undefined) {
          byCode = { bad_snapshot: 0, cluster_mismatch: 0, other: 0 };
          this.counters.snapshotsRefusedByPeer.set(from, byCode);
        }
        byCode[snapshotRefusalCode(reason)]++;
        this.snapRefusals.note(from, index, reason, retryInTicks * this.cfg.heartbeatMs);
      },
    });
    // What the durable commit index covers was applied (and served) by the previous run: apply
    // it again before start() returns, so a restart without a quorum never serves older state.
    if (commit > this.applied) {
      this.applyEntries({
        committedEntries: storage.entries(this.applied + 1, commit + 1),
      } as unknown as Ready);
    }
    if (this.clusterError !== null) {
      await storage.close().catch(() => {});
      this.stopped = true;
      throw this.clusterError;
    }
    if (this.cluster !== "" && this.identity.cluster !== this.cluster) {
      // A directory of the previous build, or one whose fleet fixed its id while this process
      // was down: the log and snapshot say which cluster it belongs to.
      this.identity = { ...this.identity, cluster: this.cluster };
      saveIdentity(this.opts.dataDir, this.identity, durable, this.opts.storage?.fs);
    }
    if (this.upgradeBlock !== null) {
      // The log this node already committed holds an entry of a later version: refuse to start
      // (as etcd refuses a member older than its cluster version) rather than serve past it.
      await storage.close().catch(() => {});
      this.stopped = true;
      throw this.upgradeBlock;
    }
    let host = this.opts.listen?.host;
    let port = this.opts.listen?.port;
    const own = this.book.get(this.id);
    if (own !== undefined && port === undefined) {
      const a = parseAddress(own);
      host ??= a.host;
      port = a.port;
    }
    const transport = new TcpTransport({
      ...this.opts.transport,
      id: this.id,
      secret: this.opts.secret,
      host,
      port,
      peers: this.book.peers(),
      clusterId: this.cluster,
      onMessage: (from, payload) => this.onPayload(from, payload),
    });
    this.transportRef = transport;
    this.book.transport = transport;
    transport.on("reject", (e: RejectEvent) => {
      if (e.reason === "cluster_mismatch") this.counters.refused.cluster_mismatch++;
      this.refusals.note(e.peer, e.reason, `${e.detail}; connection dropped`);
    });
    // A peer the transport cannot reach is probed, not pipelined to (core reportUnreachable).
    transport.on("unreachable", (peer: string) => {
      if (!this.stopped) this.node.reportUnreachable(peer);
    });
    transport.on("oversized", (e: OversizedEvent) => {
      this.refusals.note(
        e.peer,
        "oversized_send",
        `a payload of ${e.bytes} bytes, over the ${e.limit} a transport frame may carry; not sent`,
        true,
      );
    });
    const bound = await transport.start();
    if (own === undefined && bound !== "") this.book.set(this.id, bound);
    this.loop = new ReadyLoop(this.node, storage, transport, {
      applyReady: (rd) => this.applyReady(rd),
      restoreSnapshot: (s) => this.restoreSnapshot(s, false),
      afterAdvance: () => this.afterAdvance(),
      fatal: (err) => this.fatal(err),
      unsent: (msgs) => this.proposalsNotSent(msgs),
      // A snapshot the transport dropped is sent again at the next heartbeat answer, not after
      // the snapshot's own retry (core reportSnapshotLost); told after the send in progress.
      snapshotLost: (to, index) => {
        setImmediate(() => {
          if (this.stopped) return;
          this.node.reportSnapshotLost(to, index);
          this.kick();
        });
      },
    });
    this.timer = setInterval(() => this.onTick(), this.cfg.heartbeatMs);
    this.kick();
  }

  /** Stops ticking, finishes the Ready in progress, closes transport and storage; pending requests reject with STOPPED. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.identityRetry.stop();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.loop?.stop();
    this.requests.failAll(new DriverError("STOPPED", "driver stopped"));
    await this.transportRef?.stop();
    await this.storageRef?.close().catch(() => {});
  }

  private warn(message: string): void {
    this.opts.onWarning?.(message);
    this.emit("warning", message);
  }

  private fatal(err: unknown): void {
    // From here on this process applies nothing, not even the rest of the Ready pass in progress
    // (restoreSnapshot failing before applyReady), and takes no snapshot of what it holds.
    this.halted = true;
    const e = err instanceof Error ? err : new Error(String(err));
    this.requests.failAll(new DriverError("FATAL", `raft node ${this.id} stopped: ${e.message}`));
    if (this.listenerCount("fatal") > 0) this.emit("fatal", e);
    else this.warn(`fatal: ${e.message}`);
    void this.stop();
  }

  /**
   * Schedules a Ready pass only when the core has one: an idle tick on a follower, or a
   * heartbeat response the leader only records, leaves nothing to persist, send or apply, so
   * it costs no setImmediate and no pass (a pass in progress re-checks after advance()).
   */
  private kick(): void {
    if (!this.stopped && this.nodeRef?.hasReady() === true) this.loop?.kick();
  }

  // ---------------------------------------------------------------- inputs

  private onTick(): void {
    if (this.stopped) return;
    this.reportUnreachable();
    this.node.tick();
    // A checked snapshot the core did not install (it was behind this node's commit) is not
    // kept: its decoded state can be large. Nor is one a blocked node will never install.
    if (this.decoded !== null && (this.decoded.snap.meta.index <= this.applied || this.upgradeBlock !== null))
      this.decoded = null;
    this.maybeRaiseLevel();
    this.handOffBlockedLead();
    const now = performance.now();
    this.requests.sweepTimeouts(now, this.lead);
    this.retryTransfers(now);
    this.kick();
  }

  /**
   * Leader: peers whose link is down (backing off after a failure, or cut) are reported again
   * every tick: one that answered over its own connection to us (the core went back to
   * replicate) must not be pipelined to while ours to it is down.
   */
  private reportUnreachable(): void {
    const t = this.transportRef;
    if (t === null || this.role !== "leader") return;
    for (const id of t.peerIds()) {
      const link = t.linkState(id);
      if (link === "reconnecting" || link === "cut") this.node.reportUnreachable(id);
    }
  }

  private onPayload(from: string, payload: Buffer): void {
    if (this.stopped || this.nodeRef === null) return;
    if (isAppPayload(payload)) {
      this.onAppPayload(from, payload);
      return;
    }
    let msgs: Message[];
    try {
      msgs = decodeMessages(payload, this.levels.own);
    } catch (err) {
      this.counters.undecodablePayloads++;
      this.refusals.note(from, "undecodable", (err as Error).message);
      return;
    }
    for (const m of msgs) {
      // The transport authenticated `from`; a message claiming another sender is forged.
      if (m.from !== from) {
        this.counters.spoofedMessages++;
        this.refusals.note(from, "spoofed_sender", `a ${m.type} claiming to be from ${m.from}`);
        continue;
      }
      // A level no build advertises: refused, so it can neither reach the leader's minimum nor
      // the status page.
      if (carriesLevel(m.type) && !isAdvertisableLevel(m.level)) {
        this.counters.forgedLevels++;
        this.refusals.note(from, "forged_level", `a ${m.type} advertising feature level ${m.level}`);
        continue;
      }
      // Checked before the core sees it: an installed snapshot replaces the log on disk first,
      // so one this node cannot restore would be persisted before restoreSnapshot could refuse
      // it, and the directory would refuse every later start.
      if (m.type === "snap" && m.snapshot !== undefined) {
        const refusal = this.snapshotRefusal(m.snapshot);
        if (refusal !== null) {
          this.counters.refused[refusal.reason]++;
          this.refusals.note(from, refusal.reason, `${refusal.detail}; snapshot not installed`);
          // Tell the leader (snapStatus), so it backs off instead of resending at every timeout.
          this.node.refuseSnapshot(m, refusal.reason);
          continue;
        }
      }
      try {
        this.node.step(m);
      } catch (err) {
        this.counters.stepErrors++;
        this.refusals.note(from, "step_error", `${m.type}: ${(err as Error).message}`);
      }
    }
    this.kick();
  }

  /**
   * Why a snapshot sent to this node must not be installed (null if it may): its envelope does
   * not decode or names a level no build advertises (bad_snapshot), it names another cluster
   * than this directory's (cluster_mismatch), or the state machine's validate() says it could
   * not restore the state inside (bad_snapshot). One
   * naming no cluster (taken before the fleet fixed one, or by the previous version) is
   * installed and this node keeps its id. Nothing is applied here: the leader resends after its
   * snapshot timeout (core: probe again), so a later good snapshot still gets through.
   */
  private snapshotRefusal(
    snap: Snapshot,
  ): { reason: Exclude<SnapshotRefusalCode, "other">; detail: string } | null {
    const what = `snapshot ${snap.meta.index}`;
    let wrapped: ReturnType<typeof unwrapSnapshot>;
    try {
      wrapped = unwrapSnapshot(snap.data);
    } catch (err) {
      return { reason: "bad_snapshot", detail: `${what}: ${(err as Error).message}` };
    }
    // A level above this build's is a real fleet's upgrade: installed, then the node stops
    // applying with UPGRADE_REQUIRED as for a later entry (restoreSnapshot). One that no build advertises is forged or corrupt.
    if (!isAdvertisableLevel(wrapped.level))
      return {
        reason: "bad_snapshot",
        detail: `${what}: cluster level ${wrapped.level}, which no build advertises`,
      };
    if (this.cluster !== "" && wrapped.cluster !== "" && wrapped.cluster !== this.cluster)
      return { reason: "cluster_mismatch", detail: clusterMismatch(what, wrapped.cluster, this.cluster) };
    let why: string | undefined;
    let decoded: { state: unknown } | undefined;
    try {
      if (this.sm.decodeSnapshot !== undefined && this.sm.restoreDecoded !== undefined) {
        const r = this.sm.decodeSnapshot(wrapped.state);
        if (r.ok) decoded = { state: r.state };
        else why = r.error;
      } else {
        why = this.sm.validate?.(wrapped.state);
      }
    } catch (err) {
      why = `validate threw: ${(err as Error).message}`;
    }
    if (why !== undefined) return { reason: "bad_snapshot", detail: `${what}: state machine: ${why}` };
    // Kept for the install (restoreSnapshot), so the state is not decoded a second time. One
    // slot: the next snapshot replaces it, whether or not the core installed this one.
    this.decoded = { snap, wrapped, state: decoded };
    return null;
  }

  private onAppPayload(from: string, payload: Buffer): void {
    const body = appPayloadBody(payload);
    if (body === null) {
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
   * Sends opaque bytes to peer `to` over the authenticated transport (best effort: no retry,
   * dropped while the peer is cut or unreachable; returns false when dropped at once). The
   * receiver gets an "appMessage" event (from, body) with `from` as the transport authenticated it.
   */
  sendAppMessage(to: NodeId, body: Uint8Array): boolean {
    this.checkRunning();
    if (!(body instanceof Uint8Array))
      throw new DriverError("BAD_ARGUMENT", "sendAppMessage: body must be a Uint8Array");
    if (body.length > MAX_APP_MESSAGE_BYTES)
      throw new DriverError("BAD_ARGUMENT", `sendAppMessage: body over ${MAX_APP_MESSAGE_BYTES} bytes`);
    if (to === this.id) throw new DriverError("BAD_ARGUMENT", "sendAppMessage: cannot send to self");
    const sent = this.transport.send(to, encodeAppPayload(body));
    if (sent) this.counters.appMessagesSent++;
    return sent;
  }

  /**
   * Forwarded proposals the transport refused before any byte went out (no open connection to
   * the leader): their outcome is known (nothing was proposed), so they fail now with NOT_SENT
   * rather than time out as "outcome unknown".
   */
  private proposalsNotSent(msgs: readonly Message[]): void {
    const h: EntryHeader = { kind: 0, sessionHi: 0, sessionLo: 0, seq: 0 };
    for (const m of msgs) {
      const link = this.transportRef?.linkState(m.to) ?? "unknown";
      for (const e of m.entries) {
        if (!readEntryHeader(e.data, h) || h.sessionHi !== this.sessionHi || h.sessionLo !== this.sessionLo)
          continue;
        this.requests.rejectProposal(
          h.seq,
          new DriverError(
            "NOT_SENT",
            `proposal not sent: no open connection to the leader ${m.to} (link ${link}); nothing was proposed; retry`,
            m.to,
          ),
        );
      }
    }
  }

  // ---------------------------------------------------------------- applying (called by the Ready loop)

  private applyReady(rd: Ready): void {
    if (this.upgradeBlock !== null || this.halted) return;
    // A later version's entry stops this node's applier, not its Raft role (holdAtBlock): a
    // follower that missed the commit index (a lost message, a partition) learns it from the
    // heartbeats of a leader that is itself blocked, and stops too, rather than being stranded
    // behind stopped peers that no longer answer.
    if (rd.committedEntries.length > 0) this.applyEntries(rd);
    if (this.upgradeBlock !== null) return;
    if (rd.softState) this.onSoftState(rd.softState.role, rd.softState.lead);
    if (rd.readStates.length > 0) this.onReadStates(rd);
    this.requests.serveReads(this.applied);
    // Nothing appended is left to apply (or this node no longer leads): nothing is in flight.
    const g = this.pendingGrowth;
    if (g.size > 0 && (this.role !== "leader" || this.applied >= this.node.lastIndex())) g.clear();
  }

  private restoreSnapshot(snap: Snapshot, atStart: boolean): void {
    // Blocked at a later version's entry: the core keeps the snapshot it was sent (the log goes
    // on), the state machine keeps what it applied before the block; its decoded copy is let go.
    if (this.upgradeBlock !== null) {
      this.decoded = null;
      return;
    }
    // Snapshots of the previous version may carry its "@incarnations" record: no longer used
    // (the configuration names incarnations now), so it is dropped at the next snapshot.
    // The snapshot the core installs carries the message's data (its meta gains this node's
    // retired directories): what arrival decoded (snapshotRefusal) is used as is.
    const pre = this.decoded?.snap.data === snap.data ? this.decoded : null;
    this.decoded = null;
    const { addresses, state, level, cluster } = pre?.wrapped ?? unwrapSnapshot(snap.data);
    // Refused (another cluster's): the state machine is not restored and the driver is stopped
    // (fatal, or start() refusing); applyReady and afterAdvance then do nothing (halted).
    if (cluster !== "" && !this.adoptCluster(cluster, `snapshot ${snap.meta.index}`)) return;
    try {
      this.levels.checkSnapshot(level, snap.meta.index);
    } catch (err) {
      // Sent by a fleet at a later level: installed (the log goes on from it), nothing restored,
      // and the node holds at it as at a later entry (afterAdvance), keeping its Raft role.
      if (atStart || !(err instanceof DriverError)) throw err;
      this.upgradeBlock = err;
      return;
    }
    this.levels.raise(level);
    this.book.restore(addresses, atStart);
    if (pre?.state !== undefined && this.sm.restoreDecoded !== undefined)
      this.sm.restoreDecoded(pre.state.state);
    else this.sm.restore(state);
    this.applied = snap.meta.index;
    this.snapIndex = Math.max(this.snapIndex, snap.meta.index);
    this.bytesSinceSnap = 0;
    if (!atStart) this.requests.rejectCoveredBy(snap.meta.index);
  }

  /**
   * Notes (and reports once) when the configuration this node holds names it a voter under its
   * own incarnation: from then on it votes and campaigns (the core decides that; this file
   * only records it for status and for older versions reading identity.json).
   */
  private checkAdmission(): void {
    if (this.identity.admitted || this.nodeRef === null || !this.node.isAdmitted()) return;
    if (!this.identityRetry.pending) this.syncIdentity();
  }

  /**
   * Writes what identity.json lacks: the admission (checkAdmission) and, once running, the
   * cluster id the log fixed (adoptCluster). Each is announced (the transport's hellos, the
   * "admitted" and "clusterId" events) only once it is durable. At the descriptor limit the
   * write's open fails before anything reached the disk: it waits for a descriptor
   * (driver/descriptor-retry.ts) instead of stopping Raft; the log holds both facts meanwhile
   * (a restart derives them again). Any other error goes up as before.
   */
  private syncIdentity(): void {
    if (this.stopped || this.nodeRef === null) return;
    const was = this.identity;
    const admitted = was.admitted || this.node.isAdmitted();
    // At start, start() writes the cluster id once the replay is done.
    const cluster = this.transportRef !== null && this.cluster !== "" ? this.cluster : was.cluster;
    if (admitted === was.admitted && cluster === was.cluster) return;
    const next: Identity = cluster === undefined ? { ...was, admitted } : { ...was, admitted, cluster };
    try {
      saveIdentity(this.opts.dataDir, next, this.opts.fsync ?? true, this.opts.storage?.fs);
    } catch (err) {
      if (!isNoDescriptor(err)) throw err;
      if (this.identityRetry.schedule())
        this.warn(
          `identity.json not written yet (${cluster !== was.cluster ? "cluster id" : "admission"}): no file descriptor left (${(err as NodeJS.ErrnoException).code}); retrying until one is free`,
        );
      return;
    }
    this.identityRetry.succeeded();
    this.identity = next;
    if (cluster !== undefined && cluster !== was.cluster) {
      this.transportRef?.setClusterId(cluster);
      this.emit("clusterId", cluster);
    }
    if (admitted && !was.admitted) this.emit("admitted", next.incarnation);
  }

  /** Reports a committed conf entry that names another incarnation for a member (it lost its disk). */
  private noteReplacement(index: number): void {
    // confStateAt reaches back to the compaction point (firstIndex - 1), no further.
    if (this.nodeRef === null || index < this.node.status().firstIndex) return;
    const before = this.node.confStateAt(index - 1);
    const after = this.node.confStateAt(index);
    for (const id of after.learners) {
      const was = incarnationIn(before, id);
      const now = incarnationIn(after, id);
      if (was !== now && (before.voters.includes(id) || before.learners.includes(id)))
        this.emit("memberReplaced", id, now, was);
    }
  }

  /**
   * A committed conf entry that removed members: their addresses and transport links go, and
   * the leader's per-peer snapshot refusal counts (shardgate_raft_snapshots_refused_by_peers_total)
   * and log state with them.
   */
  private forgetRemoved(index: number): void {
    if (this.nodeRef === null || index < this.node.status().firstIndex) return;
    const after = this.node.confStateAt(index);
    const before = this.node.confStateAt(index - 1);
    for (const id of [...before.voters, ...before.learners]) {
      if (after.voters.includes(id) || after.learners.includes(id)) continue;
      this.book.remove(id);
      this.counters.snapshotsRefusedByPeer.delete(id);
      this.snapRefusals.forget(id);
    }
  }

  /** Leader: commits the fleet's level once every member advertised more than the committed one. */
  private maybeRaiseLevel(): void {
    if (this.stopped || this.role !== "leader" || this.upgradeBlock !== null) return;
    const fleet = this.levels.nextProposal(() => this.node.fleetLevel());
    if (fleet === undefined) return;
    this.proposeKind(KIND_LEVEL, encodeLevel(fleet))
      .catch((err: Error) => this.warn(`cluster level ${fleet} not committed: ${err.message}`))
      .finally(() => this.levels.proposalSettled());
  }

  /**
   * Takes `id` as this node's cluster id (persisted before the transport names it), or refuses
   * state of another cluster than the one this directory already belongs to: at start the
   * start fails, later the node stops (it was fed another cluster's log). Returns false then.
   */
  private adoptCluster(id: string, source: string): boolean {
    if (this.cluster === id) return true;
    // The transport exists once start() has replayed what this directory holds.
    const starting = this.transportRef === null;
    if (this.cluster !== "") {
      const err = new DriverError(
        "CLUSTER_MISMATCH",
        `data directory ${this.opts.dataDir}: ${clusterMismatch(source, id, this.cluster)}; ${starting ? "refusing to start" : "stopping"} (a data directory serves one cluster: start this member on an empty one to join another)`,
      );
      if (starting) this.clusterError = err;
      else this.fatal(err);
      return false;
    }
    this.cluster = id;
    // At start, start() persists it once the replay is done.
    if (!starting && !this.identityRetry.pending) this.syncIdentity();
    return true;
  }

  /** The cluster id ("" until the fleet fixed one: driver/cluster-identity.ts). */
  get clusterId(): string {
    return this.cluster;
  }

  /** A committed entry this build cannot decode: stop applying at it (never skip it). */
  private blockAt(index: number, why: string): DriverError {
    this.applied = index - 1;
    this.upgradeBlock = new DriverError(
      "UPGRADE_REQUIRED",
      `committed entry ${index} needs a later version (${why}); this build understands feature level ${this.levels.own}: upgrade this instance`,
    );
    return this.upgradeBlock;
  }

  private applyEntries(rd: Ready): void {
    const h = this.header;
    const requests = this.requests;
    for (const e of rd.committedEntries) {
      if (this.upgradeBlock !== null) break;
      if (e.index <= this.applied) continue;
      this.applied = e.index;
      this.bytesSinceSnap += e.data.length;
      const mine = requests.takeIndex(e.index);
      if (e.type === "conf") {
        requests.settleConf(e.index, e.term);
        this.noteReplacement(e.index);
        this.forgetRemoved(e.index);
        continue;
      }
      if (e.data.length === 0) continue; // a new leader's empty entry
      if (!readEntryHeader(e.data, h)) {
        const err = this.blockAt(e.index, "not a driver envelope");
        if (mine !== undefined) requests.rejectProposal(mine, err);
        break;
      }
      const own = h.sessionHi === this.sessionHi && h.sessionLo === this.sessionLo;
      if (mine !== undefined && (!own || h.seq !== mine)) {
        requests.rejectProposal(
          mine,
          new DriverError("LEADERSHIP_LOST", "entry overwritten by a new leader"),
        );
      }
      let failure: Error | null = null;
      if (h.kind === KIND_COMMAND) {
        this.pendingGrowth.release(h.sessionHi, h.sessionLo, h.seq);
        // A proposal of this node the leader refused (vetForwarded): applied like any command
        // (rejected, nothing changes), answered with the leader's reason.
        const refused = own ? this.sm.refusalIn?.(e.data.subarray(ENTRY_HEADER)) : undefined;
        if (refused !== undefined) failure = new DriverError("STATE_TOO_LARGE", refused, this.lead);
        try {
          this.sm.apply({ index: e.index, term: e.term, data: e.data.subarray(ENTRY_HEADER) });
        } catch (err) {
          if (err instanceof DriverError && err.code === "UPGRADE_REQUIRED") {
            failure = this.blockAt(e.index, err.message);
          } else {
            this.counters.applyErrors++;
            failure = err instanceof Error ? err : new Error(String(err));
          }
        }
      } else if (h.kind === KIND_ADDRESS) {
        this.book.applyRecord(e.data.subarray(ENTRY_HEADER));
      } else if (h.kind === KIND_LEVEL) {
        const level = this.levels.readEntry(e.data.subarray(ENTRY_HEADER));
        if (typeof level === "string") failure = this.blockAt(e.index, level);
        else {
          // The entry that first takes the fleet to LEVEL_CLUSTER_ID fixes the cluster id, the
          // same on every member (cluster-identity.ts).
          const fixes = this.levels.committed < LEVEL_CLUSTER_ID && level >= LEVEL_CLUSTER_ID;
          this.levels.raise(level);
          if (
            fixes &&
            !this.adoptCluster(
              deriveClusterId(e.index, e.term, h.sessionHi, h.sessionLo, h.seq),
              `committed entry ${e.index}`,
            )
          )
            break;
        }
      } else if (h.kind !== KIND_INCARNATION) {
        // KIND_INCARNATION: the previous version's record of a member's incarnation, now ignored.
        failure = this.blockAt(e.index, `entry kind ${h.kind}`);
      }
      if (own) requests.settleProposal(h.seq, e.index, failure);
      else if (mine !== undefined && this.upgradeBlock !== null)
        requests.rejectProposal(mine, this.upgradeBlock);
      if (this.upgradeBlock !== null) break;
    }
    this.checkAdmission();
    this.emit("applied", this.applied);
  }

  private onSoftState(role: Role, lead: NodeId): void {
    const roleChanged = role !== this.role;
    const leadChanged = lead !== this.lead;
    const wasLeader = this.role === "leader";
    this.role = role;
    this.lead = lead;
    if (roleChanged) this.emit("roleChange", role);
    // A one-member configuration needs no answer to decide its level: do it at once, outside
    // this Ready pass, so it is committed ahead of what the application proposes first.
    if (roleChanged && role === "leader") setImmediate(() => this.maybeRaiseLevel());
    if (roleChanged && role === "leader") this.countUnapplied();
    if (!leadChanged && !(wasLeader && roleChanged)) return;
    if (leadChanged) this.emit("leaderChange", lead, this.node.status().term);
    this.requests.onLeaderChange(role, lead);
  }

  /**
   * A new leader: the commands in its log it has not applied (a previous leader's, committed or
   * not, that it learns are committed only once an entry of its own term is) are applied before
   * anything it appends, so they are counted against maxStateBytes like its own proposals in
   * flight (at the upper estimate, measured only near the bound); released as they are applied.
   */
  private countUnapplied(): void {
    const h = { kind: 0, sessionHi: 0, sessionLo: 0, seq: 0 };
    for (const e of this.node.entriesAfter(this.applied)) {
      if (e.type === "conf" || e.data.length < ENTRY_HEADER) continue;
      if (!readEntryHeader(e.data, h) || h.kind !== KIND_COMMAND) continue;
      const command = e.data.subarray(ENTRY_HEADER);
      if (this.sm.refusalIn?.(command) !== undefined) continue;
      this.countGrowth(h.sessionHi, h.sessionLo, h.seq, command, undefined);
    }
  }

  private onReadStates(rd: Ready): void {
    for (const rs of rd.readStates) {
      if (rs.ctx.length !== 8) continue;
      const v = new DataView(rs.ctx.buffer, rs.ctx.byteOffset, 8);
      if (v.getUint32(0) !== this.sessionLo) continue;
      this.requests.readConfirmed(v.getUint32(4), rs.index);
    }
  }

  private afterAdvance(): Promise<void> {
    if (this.halted) return Promise.resolve();
    if (this.upgradeBlock === null) return this.maybeSnapshot();
    if (!this.blockReported) this.holdAtBlock(this.upgradeBlock);
    return Promise.resolve();
  }

  /**
   * Blocked at a later version's entry: nothing more is applied or snapshotted, requests fail
   * with the block, but the node keeps ticking, voting, replicating and (as leader) sending
   * heartbeats, as etcd's raft lets a node whose state machine cannot apply keep its role.
   * Stopping the process's Raft instead left a follower that had not heard the commit index
   * with no live peer to hear it from: serving on, not degraded, while the rest had stopped.
   * Called after the pass sent its messages, so the proposer's answer is not racing them.
   */
  private holdAtBlock(block: DriverError): void {
    this.blockReported = true;
    this.requests.failAll(block);
    if (this.listenerCount("fatal") > 0) this.emit("fatal", block);
    else this.warn(`stopped applying: ${block.message}`);
  }

  /**
   * Leader blocked at a later version's entry: leadership goes to a voter advertising a later
   * feature level than this build's (a newer build, which can apply the entry). Leading on,
   * this node would hold the term with its heartbeats while doing none of a leader's work (no
   * level raises; the application gives up its controllers), for as long as it runs. With no
   * newer voter heard, it keeps leading: the blocked fleet still needs heartbeats. A transfer
   * that does not complete is dropped by the core after an election timeout, then asked again.
   */
  private handOffBlockedLead(): void {
    if (this.upgradeBlock === null || this.role !== "leader") return;
    const st = this.node.status();
    if (st.leadTransferee !== "") return;
    const own = this.levels.own;
    const to = st.conf.voters.find((id) => id !== this.id && (this.node.memberLevel(id) ?? -1) > own);
    if (to === undefined) return;
    try {
      this.node.transferLeadership(to);
    } catch (err) {
      if (!(err instanceof ProposalDropped)) throw err;
    }
  }

  private async maybeSnapshot(): Promise<void> {
    if (
      this.applied - this.snapIndex < this.cfg.snapshotEvery &&
      this.bytesSinceSnap < this.cfg.snapshotBytes
    )
      return;
    if (performance.now() < this.snapshotRetryAt) return;
    const index = this.applied;
    try {
      await takeSnapshot(
        this.storage,
        this.node,
        this.sm,
        this.book.all(),
        index,
        this.cfg.compactMargin,
        {},
        this.cfg.snapshotBytes / 4,
        this.levels.committed,
        this.cluster,
      );
    } catch (err) {
      // No descriptor for the snapshot's file (the process's limit, not the disk): nothing was
      // written over the last snapshot and the log is whole, so it waits (a second, then the
      // next advance) rather than stop the node as a failing disk would.
      if (!isNoDescriptor(err)) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (this.snapshotRetryAt === 0)
        this.warn(`snapshot at ${index} postponed: no file descriptor left (${code})`);
      this.snapshotRetryAt = performance.now() + SNAPSHOT_RETRY_MS;
      return;
    }
    this.snapshotRetryAt = 0;
    this.snapIndex = index;
    this.bytesSinceSnap = 0;
    this.counters.snapshotsTaken++;
  }

  // ---------------------------------------------------------------- requests

  private checkRunning(): void {
    if (!this.started || this.nodeRef === null) throw new DriverError("STOPPED", "driver not started");
    if (this.stopped) throw new DriverError("STOPPED", "driver stopped");
  }

  /** Proposals and reads wait on the applier: a node blocked at a later version's entry refuses them. */
  private checkServing(): void {
    this.checkRunning();
    if (this.upgradeBlock !== null) throw this.upgradeBlock;
  }

  private dropped(err: unknown): DriverError {
    if (err instanceof ProposalDropped) {
      if (err.reason === "no leader known")
        return new DriverError("NO_LEADER", "no leader known; retry later");
      if (err.reason === "not the leader") return new DriverError("NOT_LEADER", "not the leader", this.lead);
      if (err.reason.startsWith(LEARNER_BEHIND))
        return new DriverError("NOT_CAUGHT_UP", err.reason, this.lead);
      if (err.reason.startsWith(LEVEL_TOO_LOW))
        return new DriverError("LEVEL_TOO_LOW", err.reason, this.lead);
      if (err.reason === UNCOMMITTED_FULL || err.reason === READS_FULL)
        return new DriverError("OVERLOADED", `${err.reason}: nothing commits; retry later`, this.lead);
      return new DriverError("DROPPED", `proposal dropped: ${err.reason}`, this.lead);
    }
    return err instanceof DriverError ? err : new DriverError("DROPPED", String(err));
  }

  /**
   * Replicates `command`; resolves with its log index once this node has applied it. Works on
   * any member: a follower forwards the proposal to the leader and recognises the entry when it
   * applies it. Rejects with DriverError (NO_LEADER, LEADERSHIP_LOST: outcome unknown, TIMEOUT,
   * NOT_SENT: a follower had no open connection to the leader, nothing was proposed, STOPPED,
   * BAD_ARGUMENT).
   */
  propose(command: Uint8Array): Promise<number> {
    if (!(command instanceof Uint8Array)) {
      return Promise.reject(new DriverError("BAD_ARGUMENT", "propose: command must be a Uint8Array"));
    }
    const after = this.mayOutgrowState(command) ? this.sm.encodedBytesAfter?.(command) : undefined;
    const pending = this.pendingGrowthFor(after);
    if (after !== undefined && after + pending > this.cfg.maxStateBytes) {
      return Promise.reject(
        new DriverError(
          "STATE_TOO_LARGE",
          `the cluster state would take ${after} bytes encoded${pendingNote(pending)}, over the bound of ${this.cfg.maxStateBytes} (a snapshot must fit one transport frame); nothing was proposed`,
          this.lead,
        ),
      );
    }
    return this.proposeKind(KIND_COMMAND, command, after);
  }

  /** Leader: the growth its appended, unapplied proposals may still add to the state (0 elsewhere). */
  private pendingGrowthHere(): number {
    return this.role === "leader" ? this.pendingGrowth.total : 0;
  }

  /**
   * The pending growth a command that takes the state to `after` is checked with: when the
   * estimates among it would refuse the command, they are measured first (each in-flight
   * command once, against the applied state), so the estimate alone refuses nothing that fits.
   */
  private pendingGrowthFor(after: number | undefined): number {
    const pending = this.pendingGrowthHere();
    const g = this.pendingGrowth;
    if (after === undefined || after + pending <= this.cfg.maxStateBytes || !g.estimated) return pending;
    const now = this.sm.encodedBytes?.();
    if (now === undefined) return pending;
    g.refine((command) => {
      const a = this.sm.encodedBytesAfter?.(command);
      return a === undefined ? undefined : a - now;
    });
    return this.pendingGrowthHere();
  }

  /**
   * Leader: counts `command`, just appended under that envelope, until it is applied: what it
   * adds when `after` was measured, else the upper estimate (kept with the command, see refine).
   */
  private countGrowth(
    hi: number,
    lo: number,
    seq: number,
    command: Uint8Array,
    after: number | undefined,
  ): void {
    const now = after === undefined ? undefined : this.sm.encodedBytes?.();
    if (after !== undefined && now !== undefined) this.pendingGrowth.add(hi, lo, seq, after - now, null);
    else this.pendingGrowth.add(hi, lo, seq, STATE_GROWTH_PER_BYTE * command.length, command);
  }

  /**
   * Leader: a command a follower forwarded, checked against this leader's state as propose()
   * checks the proposer's own (whose view may be stale): one that would take the state past
   * maxStateBytes is replaced by the state machine's refusal, under the proposer's envelope.
   */
  private vetForwarded(data: Uint8Array): Uint8Array {
    const sm = this.sm;
    if (sm.refusal === undefined || sm.refusalIn === undefined || data.length < ENTRY_HEADER) return data;
    if (data[0] !== KIND_COMMAND) return data;
    const h = { kind: 0, sessionHi: 0, sessionLo: 0, seq: 0 };
    if (!readEntryHeader(data, h)) return data;
    const command = data.subarray(ENTRY_HEADER);
    const after = this.mayOutgrowState(command) ? sm.encodedBytesAfter?.(command) : undefined;
    const pending = this.pendingGrowthFor(after);
    if (after === undefined || after + pending <= this.cfg.maxStateBytes) {
      // Counted from now until it is applied (the core appends it next, this node leading).
      if (this.role === "leader") this.countGrowth(h.sessionHi, h.sessionLo, h.seq, command, after);
      return data;
    }
    this.counters.forwardedTooLarge++;
    return wrapEntry(
      KIND_COMMAND,
      h.sessionHi,
      h.sessionLo,
      h.seq,
      sm.refusal(
        `the cluster state would take ${after} bytes encoded on the leader${pendingNote(pending)}, over the bound of ${this.cfg.maxStateBytes} (a snapshot must fit one transport frame); nothing was applied`,
      ),
    );
  }

  /**
   * Whether `command` could take the state past maxStateBytes, by an O(1) upper estimate: the
   * last snapshot (state and envelope) plus STATE_GROWTH_PER_BYTE times the entry bytes applied
   * since and the command's, plus (leader) what the proposals in flight may add. Only then is
   * the exact size asked (encodedBytesAfter re-encodes what the command changes: ~30 ms for a
   * drain in a 5,000-member pool).
   */
  private mayOutgrowState(command: Uint8Array): boolean {
    if (this.storageRef === null) return true;
    const snap = this.storageRef.snapshot().data.length;
    return (
      snap + STATE_GROWTH_PER_BYTE * (this.bytesSinceSnap + command.length) + this.pendingGrowthHere() >
      this.cfg.maxStateBytes
    );
  }

  /** `after`: a command's measured size after it (undefined: not measured), counted once appended; null: not counted. */
  private proposeKind(
    kind: number,
    body: Uint8Array,
    after: number | undefined | null = null,
  ): Promise<number> {
    try {
      this.checkServing();
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.requests.pendingProposals >= this.cfg.maxPendingProposals) {
      return Promise.reject(
        new DriverError(
          "OVERLOADED",
          `${this.requests.pendingProposals} proposals are waiting for their outcome; retry later`,
          this.lead,
        ),
      );
    }
    this.seq = (this.seq + 1) >>> 0;
    const seq = this.seq;
    let r: { forwarded: boolean; index: number };
    try {
      r = this.node.propose(wrapEntry(kind, this.sessionHi, this.sessionLo, seq, body));
    } catch (err) {
      return Promise.reject(this.dropped(err));
    }
    // Appended here (this node leads): counted against the state bound until it is applied.
    if (after !== null && !r.forwarded && this.role === "leader")
      this.countGrowth(this.sessionHi, this.sessionLo, seq, body, after);
    this.kick();
    return this.requests.addProposal(seq, r.forwarded ? this.lead : "", r.index);
  }

  /** Linearizable read barrier (ReadIndex): resolves with the read index once this node applied it. */
  read(): Promise<number> {
    try {
      this.checkServing();
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.requests.pendingReads >= this.cfg.maxPendingReads) {
      return Promise.reject(
        new DriverError(
          "OVERLOADED",
          `${this.requests.pendingReads} reads are waiting; retry later`,
          this.lead,
        ),
      );
    }
    return new Promise<number>((resolve, reject) => {
      if (this.requests.queueRead(resolve, reject)) setImmediate(() => this.issueReads());
    });
  }

  private issueReads(): void {
    const batch = this.requests.takeReadBatch();
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
    this.requests.readIssued(this.readSeq, batch);
    this.kick();
  }

  // ---------------------------------------------------------------- membership
  //
  // Membership changes are leader-only: on a follower they reject with NOT_LEADER carrying the
  // leader's id (`err.leader`) so the caller can retry there. They are not forwarded: a conf
  // entry carries no driver envelope, so a follower could not recognise its forwarded change
  // when applied (only the leader learns the index), and the leader's refusals (a change
  // already in flight, none committed in its term yet) would be lost on the way, leaving the
  // follower's promise to time out instead of failing with the reason. Leadership transfer
  // needs no such tracking (the outcome is visible as a leader change), so a follower forwards it.

  private confChange(cc: ConfChange): Promise<number> {
    try {
      this.checkServing();
      if (this.role !== "leader")
        throw new DriverError("NOT_LEADER", "membership changes go to the leader", this.lead);
      const r = this.node.proposeConfChange(cc);
      this.kick();
      return this.requests.addConf(r.index, r.term);
    } catch (err) {
      return Promise.reject(this.dropped(err));
    }
  }

  /**
   * Leader only: replicates `address` for `id`, then adds `id` as a learner under data directory
   * `incarnation` (its join names it; absent: the one the configuration already names, or a
   * founder's). Resolves with the conf entry's index.
   */
  async addLearner(id: NodeId, address: string, incarnation?: string): Promise<number> {
    if (!id) throw new DriverError("BAD_ARGUMENT", "addLearner: id is required");
    try {
      parseAddress(address);
    } catch (err) {
      throw new DriverError("BAD_ARGUMENT", `addLearner: ${(err as Error).message}`);
    }
    if (this.role !== "leader")
      throw new DriverError("NOT_LEADER", "membership changes go to the leader", this.lead);
    // Checked before the address record too, so a refused join leaves nothing in the log.
    if ((incarnation ?? "") !== "")
      this.requireLevel(LEVEL_INCARNATION_CONF, "adding a member under its data directory's incarnation");
    await this.proposeKind(KIND_ADDRESS, Buffer.from(JSON.stringify({ id, address })));
    return this.confChange({ type: "addLearner", node: id, incarnation });
  }

  /** Leader only (NOT_LEADER with `leader` elsewhere): makes learner `id` a voter. */
  promote(id: NodeId): Promise<number> {
    return this.confChange({ type: "addVoter", node: id });
  }

  /** The committed cluster level: what every member understands (core/feature-level.ts). */
  get clusterLevel(): number {
    return this.levels.committed;
  }

  /** The feature level this node advertises. */
  get level(): number {
    return this.levels.own;
  }

  /** Rejects a proposal of `what` with LEVEL_TOO_LOW unless the committed level has `need`. */
  requireLevel(need: number, what: string): void {
    this.levels.require(need, what, this.lead);
  }

  /** This data directory's incarnation id (identity.json). */
  get incarnation(): string {
    return this.identity.incarnation;
  }

  /** The incarnation this node stamps on its Raft messages ("" for a founder's directory). */
  get raftIncarnation(): string {
    return raftIncarnation(this.identity);
  }

  /**
   * Whether this node's configuration names it a voter under its own incarnation (it votes) and
   * identity.json records it. Like the cluster id, the admission is shown (and announced) only
   * once durable: while its write waits for a descriptor (syncIdentity) this is still false.
   */
  get admitted(): boolean {
    return this.nodeRef === null ? this.identity.admitted : this.identity.admitted && this.node.isAdmitted();
  }

  /** The incarnation this node's configuration names for member `id` ("" for a founder). */
  incarnationOf(id: NodeId): string {
    this.checkRunning();
    return incarnationIn(this.node.status().conf, id);
  }

  /**
   * Leader only: member `id` came back as data directory `incarnation` (it lost its disk). It
   * becomes a learner under it (a voter is demoted and promoted back by the leader once caught
   * up). The core does the same by itself when such a member answers it; this is the path of
   * a join that names the new incarnation.
   */
  replaceIncarnation(id: NodeId, incarnation: string): Promise<number> {
    if (!id || !incarnation)
      return Promise.reject(
        new DriverError("BAD_ARGUMENT", "replaceIncarnation: id and incarnation are required"),
      );
    try {
      this.checkRunning();
      if (this.role !== "leader")
        throw new DriverError("NOT_LEADER", "membership changes go to the leader", this.lead);
      const r = this.node.replaceIncarnation(id, incarnation);
      this.kick();
      return this.requests.addConf(r.index, r.term);
    } catch (err) {
      return Promise.reject(this.dropped(err));
    }
  }

  /** Leader only (NOT_LEADER with `leader` elsewhere): removes voter or learner `id`. */
  removeMember(id: NodeId): Promise<number> {
    return this.confChange({ type: "removeNode", node: id });
  }

  /**
   * Hands leadership to voter `id`; resolves once this node sees `id` lead. On a follower the
   * request is forwarded to the leader. An attempt that lapses (Raft gives it one election
   * timeout) is made again until transferTimeoutMs, then TIMEOUT. Rejects at once with
   * NO_LEADER, or DROPPED when `id` is not a voter in this node's configuration (a learner, or
   * not a member); when a conf change makes it a non-voter meanwhile, at the next attempt.
   */
  transferLeadership(id: NodeId): Promise<void> {
    try {
      this.checkRunning();
      this.node.transferLeadership(id);
    } catch (err) {
      return Promise.reject(this.dropped(err));
    }
    if (this.lead === id) return Promise.resolve();
    this.kick();
    return this.requests.addTransfer(id, transferTimeoutMs(this.cfg.electionMs), this.transferRetryMs());
  }

  /** One attempt's allowance: Raft aborts a transfer after an election timeout. */
  private transferRetryMs(): number {
    return this.cfg.electionMs + this.cfg.heartbeatMs;
  }

  /**
   * Makes again each transfer whose attempt lapsed (the core ignores one already under way). A
   * target that is no longer a voter here (demoted or removed meanwhile, which the leader knew
   * first: it ignored the forwarded request) is refused now rather than at the deadline.
   */
  private retryTransfers(now: number): void {
    for (const to of this.requests.transfersDue(now, this.transferRetryMs())) {
      if (this.lead === to) continue;
      try {
        this.node.transferLeadership(to);
      } catch (err) {
        // No leader known right now: the request waits for one until its deadline.
        const reason = err instanceof ProposalDropped ? err.reason : "";
        if (reason === notAVoter(to, true) || reason === notAVoter(to, false))
          this.requests.rejectTransfers(to, this.dropped(err));
      }
    }
  }

  /** Sets the address of a peer locally (not replicated; addLearner replicates). */
  setPeerAddress(id: NodeId, address: string): void {
    parseAddress(address);
    this.book.set(id, address);
  }

  peerAddresses(): Record<NodeId, string> {
    return this.book.all();
  }

  /**
   * What the Ready pass in progress awaits (a storage sync, a snapshot install) and for how
   * many ms, or null when no pass waits. Nothing is applied, sent after a sync, or answered
   * meanwhile: a long wait is a node that stopped applying although its core commits on.
   */
  readyWait(): { on: string; ms: number } | null {
    return this.loop?.stalledOn() ?? null;
  }

  status(): DriverStatus {
    this.checkRunning();
    return buildStatus(
      this.id,
      this.node,
      this.transport,
      (id) => this.book.get(id),
      this.applied,
      this.snapIndex,
      this.levels.committed,
    );
  }
}
