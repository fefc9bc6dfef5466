// RaftNode: the pure, deterministic Raft state machine (after etcd-io/raft's raft.go and
// rawnode.go). No sockets, files, timers, clocks or global randomness: inputs are step(msg),
// tick(), propose(), proposeConfChange(), readIndex(), transferLeadership(); output is a Ready.
//
// Driver contract (ready.ts has it in full): rd = node.ready(); persist rd.snapshot, rd.entries
// and rd.hardState durably; send rd.messages; apply rd.snapshot and rd.committedEntries in
// order; then node.advance(rd). Allowed relaxations, as in etcd: a leader's appends/heartbeats
// and a follower's forwarded requests may go out before the sync (canSendBeforeSync: the
// leader counts itself toward a quorum only after advance()); committed entries may be applied
// before the sync (already durable on a quorum); a commit-only hard state need not be synced
// (mustSync). Responses and votes always wait for the sync, and advance() comes after it.
// ready() may not be called again before advance(); step()/tick()/propose() may be called in
// between (their output goes to the next Ready).
// Errors: propose/proposeConfChange/readIndex/transferLeadership throw ProposalDropped (retry
// elsewhere or later); misuse throws RaftUsageError; step() ignores messages not addressed to
// this node and malformed appends, and otherwise throws only what the storage throws.
//
// Safety notes:
// - A leader counts its own log in a quorum only after advance() confirmed it durable, so a
//   single-node cluster never acknowledges a write it could lose in a crash (etcd#14370).
// - A leader commits by counting replicas only entries of its own term (paper §5.4.2, Figure 8).
// - A follower caps its commit at the last index an append verified (copycat#265), and never
//   truncates at or below its commit index (RaftInvariantError instead).
// - Pre-vote (thesis §9.6) + check-quorum: a leader steps down when it has not heard from a
//   quorum within an election timeout; a node that heard from a leader within the election
//   timeout ignores (pre-)vote requests unless they come from a leadership transfer.
//
// Membership (thesis §4.1, single-server changes): each conf entry adds, promotes or removes
// ONE member, and a node uses the configuration in its log as soon as the entry is APPENDED
// (a truncated conf entry reverts it). Why it is safe: any majority of C_old and any majority
// of C_new = C_old ± one server overlap, so two leaders of the same term cannot be elected by
// the two configurations. That argument needs at most one change in flight, so the leader
// refuses a new conf change while an earlier one is uncommitted (pendingConfIndex), and it
// refuses any conf change until it has committed an entry of its own term (the fix Ongaro
// posted to raft-dev in 2015: otherwise a change appended by a deposed leader in an older term
// and a new change could each form disjoint majorities). Learners receive the log but are
// never counted in a quorum and never campaign. A leader that removed itself keeps leading
// (without counting itself) until the entry commits, then steps down.
//
// Incarnations (issue 9): the configuration names each member's data directory ("" for a
// founder's), every message carries its sender's, and a vote request names the voter's as the
// candidate's configuration has it. A reply from another directory than the configured one is
// dropped (no progress, commit, check-quorum or ReadIndex confirmation), such a vote is not
// counted, and a node grants votes only to requests naming its own directory: a node that lost
// its disk (and with it its votes and acknowledged entries) never acts as its previous self.
// The leader replaces a member that answers under a new incarnation (replaceIncarnation).
import type {
  ConfChange,
  ConfState,
  Entry,
  EntryType,
  HardState,
  NodeId,
  RetiredState,
  Snapshot,
} from "../types.js";
import { decodeConfChange, encodeConfChange } from "./codec.js";
import { applyConfChange, confChangeProblem, incarnationIn, isRejoining } from "./conf.js";
import {
  LEARNER_BEHIND,
  notAVoter,
  ProposalDropped,
  RaftConfigError,
  RaftUsageError,
  READS_FULL,
  UNCOMMITTED_FULL,
} from "./errors.js";
import {
  CURRENT_LEVEL,
  LEVEL_INCARNATION_CONF,
  LEVEL_SNAP_STATUS,
  LEVEL_SNAPSHOT_RETIRED,
  levelTooLow,
} from "./feature-level.js";
import { MemberLevels } from "./member-levels.js";
import { carriesLevel, type Message, type MessageInit, messageFrom, newMessage } from "./message.js";
import { mixSeed, Prng } from "./prng.js";
import { Progress } from "./progress.js";
import {
  type ProgressStatus,
  type ProposalResult,
  type RaftConfig,
  type RaftStatus,
  validateConfig,
} from "./raft-config.js";
import { RaftLog } from "./raft-log.js";
import { ReadOnlyQueue } from "./read-only.js";
import type { ReadState, Ready, Role, SoftState } from "./ready.js";
import type { RefusalReason } from "./refusals.js";
import { RetiredDirs } from "./retired-dirs.js";
import type { RaftStorage } from "./storage.js";

const NONE = "";
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();
/** A snapStatus names its refusal's code, not its detail: bounded, whoever sent it. */
const MAX_REFUSAL_REASON_BYTES = 64;
const EMPTY = new Uint8Array(0);

interface Outstanding {
  readonly ready: Ready;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly snapIndex: number;
  readonly appliedTo: number;
}

export class RaftNode {
  readonly id: NodeId;
  private readonly storage: RaftStorage;
  private readonly log: RaftLog;
  private readonly prng: Prng;
  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxMsgEntries: number;
  private readonly maxMsgBytes: number;
  private readonly maxInflight: number;
  private readonly maxApplyBytes: number;

  private term = 0;
  private vote: NodeId = NONE;
  private lead: NodeId = NONE;
  private role: Role = "follower";

  private conf: ConfState;
  /** Membership as of the log's base (snapshot); conf entries after it are in confHistory. */
  private confBase: ConfState;
  private confHistory: { index: number; conf: ConfState }[] = [];
  private voters = new Set<NodeId>();
  /** The configuration applyConf last put in effect (to see a member's incarnation change). */
  private confApplied: ConfState = { voters: [], learners: [] };
  private learners = new Set<NodeId>();

  private readonly prs = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** Heartbeat rounds since this node became leader; learners hear every learnerHeartbeatEvery-th (once per election timeout). */
  private heartbeatRound = 0;
  private readonly learnerHeartbeatEvery: number;
  /** Heartbeat ticks as leader (the clock of Progress.unansweredSince). */
  private leaderTicks = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId = NONE;
  private pendingConfIndex = 0;

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private readonly readOnly = new ReadOnlyQueue();
  /** Reads that arrived before this leader committed an entry of its term. */
  private pendingReadRequests: { from: NodeId; ctx: Uint8Array }[] = [];
  private readonly maxUncommittedBytes: number;
  private readonly maxPendingReads: number;
  private readonly maxPromoteLag: number;
  /** This data directory's incarnation ("" for a founder's), stamped on every message. */
  private readonly incarnation: string;
  private readonly onRefused: ((from: NodeId, reason: RefusalReason) => void) | undefined;
  private readonly onSnapshotRefused: RaftConfig["onSnapshotRefused"];
  private readonly vetForwarded: RaftConfig["vetForwarded"];
  /** Set while refuseSnapshot steps a snap the driver refused (its code): answered, not installed. */
  private refusingSnapshot: string | null = null;
  /** Whether the refused snap being stepped reached handleSnapshot (and was answered). */
  private snapshotAnswered = false;
  private readonly incarnationBytes: Uint8Array;
  /**
   * Data directories replaced per member (late messages of a dead process), by the configuration
   * changes this node applied (every node, kept across terms and restarts: a new leader refuses
   * what the last one retired) and, leader, the one a replacement it proposed takes away.
   */
  private retired: RetiredDirs;
  /** What was retired as of confBase: the start of a replay (retiredAt, a restart). */
  private retiredBase: RetiredDirs;
  /** The feature level this node advertises, and the committed cluster level (feature-level.ts). */
  private readonly level: number;
  private clusterLevel: number;
  /** Leader, this term: the level each member advertised. */
  private readonly memberLevels = new MemberLevels();
  /** Leader: data bytes of this term's uncommitted entries, and [index, bytes] of each, oldest first. */
  private uncommittedBytes = 0;
  private uncommitted: [number, number][] = [];

  private prevHard: HardState;
  private prevSoft: SoftState;
  private outstanding: Outstanding | null = null;

  constructor(config: RaftConfig) {
    validateConfig(config);
    this.id = config.id;
    this.storage = config.storage;
    this.electionTimeout = config.electionTick ?? 10;
    this.heartbeatTimeout = config.heartbeatTick ?? 1;
    // Learners never campaign, so no election timer depends on their heartbeats; they learn
    // commits from the appends sent on every commit. Once per election timeout keeps them
    // current on the leader and lets a lagging one be probed, at a fraction of the fan-out cost
    // (3 voters + 20 learners: 22 messages and socket writes per round became 2 + 20/10).
    // Nothing of a re-admission waits on it: a voter being replaced hears voter-rate
    // heartbeats (isRejoining), and its promotion is checked on every round.
    this.learnerHeartbeatEvery = Math.max(1, Math.floor(this.electionTimeout / this.heartbeatTimeout));
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.maxMsgEntries = config.maxMsgEntries ?? 64;
    this.maxMsgBytes = config.maxMsgBytes ?? 1 << 20;
    this.maxInflight = config.maxInflight ?? 64;
    this.maxApplyBytes = config.maxApplyBytes ?? 4 << 20;
    this.maxUncommittedBytes = config.maxUncommittedBytes ?? 4 << 20;
    this.maxPendingReads = config.maxPendingReads ?? 4096;
    this.maxPromoteLag = config.maxPromoteLag ?? 8;
    this.incarnation = config.incarnation ?? "";
    this.onRefused = config.onRefused;
    this.vetForwarded = config.vetForwarded;
    this.onSnapshotRefused = config.onSnapshotRefused;
    this.incarnationBytes = utf8.encode(this.incarnation);
    this.level = config.level ?? CURRENT_LEVEL;
    this.clusterLevel = config.clusterLevel ?? CURRENT_LEVEL;
    this.prng = new Prng(mixSeed(config.seed, config.id));
    this.log = new RaftLog(this.storage);

    const { hardState, confState, retired } = this.storage.initialState();
    this.confBase = confState;
    this.conf = confState;
    const first = this.storage.firstIndex();
    const last = this.storage.lastIndex();
    if (last >= first) {
      for (const e of this.storage.entries(first, last + 1)) {
        if (e.type === "conf") this.recordConfEntry(e);
      }
    }
    // What was retired before the restart: the snapshot's, and what the log's changes retired.
    this.retiredBase = RetiredDirs.from(retired);
    this.retired = this.retiredDirsAt(last);
    this.confApplied = this.conf;
    this.applyConf(this.conf);
    if (hardState.commit > last) {
      throw new RaftConfigError(
        "storage",
        `hard state commit ${hardState.commit} is beyond the last index ${last}`,
      );
    }
    // A snapshot holds only committed state, so its index is committed even if the hard state
    // written before it was not synced (a commit-only hard state need not be fsynced).
    const commit = Math.max(hardState.commit, first - 1);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.log.committed = commit;
    if (config.applied !== undefined) {
      if (config.applied > commit || config.applied < 0) {
        throw new RaftConfigError("applied", `must be in [0, ${commit}], got ${config.applied}`);
      }
      this.log.applied = Math.max(config.applied, first - 1);
    }
    this.prevHard = hardState;
    this.becomeFollower(this.term, NONE);
    this.prevSoft = { lead: NONE, role: "follower" };
  }

  // ---------------------------------------------------------------- public API

  /** Advances logical time by one tick. */
  tick(): void {
    if (this.role === "leader") this.tickHeartbeat();
    else this.tickElection();
  }

  /** Starts an election now (pre-vote first when enabled), as if the election timeout fired. */
  campaign(): void {
    if (this.role === "leader") return;
    this.startCampaign(this.preVote ? "preVote" : "election");
  }

  /** Feeds a message from the network. Messages not addressed to this node are ignored. */
  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id) return;
    if (m.type === "prop" || m.type === "readIndex" || m.type === "transferLeader") {
      this.stepLocalForward(m);
      return;
    }
    if (m.type === "timeoutNow" && (m.term !== this.term || m.from !== this.lead)) {
      this.refuse(m.from, "timeout_now_not_leader");
      return;
    }
    if (m.term > this.term && this.fromRetired(m)) {
      // A dead data directory's late message (its process ran on at a later term while cut
      // off): it says nothing about the member's current directory, and must not depose us.
      return;
    }
    if (m.term > this.term) {
      const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
      if (
        inLease &&
        (m.type === "app" || m.type === "heartbeat" || m.type === "snap") &&
        !this.voters.has(m.from) &&
        !this.learners.has(m.from)
      ) {
        // A leader this configuration does not name, while ours is alive (core/refusals.ts).
        this.refuse(m.from, "append_from_non_member");
        return;
      }
      if (m.type === "vote" || m.type === "preVote") {
        // Only a voter of this configuration may skip the lease (a transfer's forced vote): a
        // removed member, or anyone else holding the secret, could otherwise depose a working
        // leader by raising every member's term (core/refusals.ts).
        const voter = this.voters.has(m.from);
        if (inLease && !voter) this.refuse(m.from, "vote_from_non_voter");
        if (inLease && !(m.force && voter)) return;
      }
      if (m.type === "preVote") {
        // A pre-vote never changes our term.
      } else if (m.type === "preVoteResp" && !m.reject) {
        // A granted pre-vote carries the future term of the election we may start.
      } else if (m.type === "app" || m.type === "heartbeat" || m.type === "snap") {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === "heartbeat" || m.type === "app")) {
        // A leader cut off from us kept an old term while we moved on; tell it so it steps down
        // (otherwise pre-vote/check-quorum could leave it leading a minority forever).
        this.send({ type: "appResp", to: m.from, term: this.term });
      } else if (m.type === "preVote") {
        // Answer so a lower-term pre-candidate learns our term (etcd#8243 liveness).
        this.send({ type: "preVoteResp", to: m.from, term: this.term, reject: true });
      }
      return;
    }

    if (m.type === "vote" || m.type === "preVote") {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(m);
        break;
      case "candidate":
      case "preCandidate":
        this.stepCandidate(m);
        break;
      case "follower":
        this.stepFollower(m);
        break;
    }
  }

  private refuse(from: NodeId, reason: RefusalReason): void {
    this.onRefused?.(from, reason);
  }

  /** Proposes a state-machine command. Throws ProposalDropped when it cannot be accepted here. */
  propose(data: Uint8Array): ProposalResult {
    if (!(data instanceof Uint8Array)) throw new RaftUsageError("propose: data must be a Uint8Array");
    return this.proposeEntry("normal", data);
  }

  /** Proposes a single-server membership change (only one may be uncommitted at a time). */
  proposeConfChange(cc: ConfChange): ProposalResult {
    // A change naming an incarnation (v2) is skipped by the released version: only once every
    // member understands it (the committed cluster level) may it enter the log.
    if (((cc.incarnation ?? "") !== "" || cc.rejoin === true) && this.clusterLevel < LEVEL_INCARNATION_CONF)
      throw new ProposalDropped(
        levelTooLow("a conf change naming an incarnation", LEVEL_INCARNATION_CONF, this.clusterLevel),
      );
    const data = encodeConfChange(cc);
    if (this.role === "leader") {
      const problem = this.confChangeRefusal(cc);
      if (problem !== "") throw new ProposalDropped(problem);
    }
    return this.proposeEntry("conf", data);
  }

  /**
   * Hands leadership to voter `to` (the leader catches it up, then sends TimeoutNow). A follower
   * forwards the request to its leader (as etcd's MsgTransferLeader); the leader ignores a
   * forwarded request it cannot serve, so the caller learns the outcome by watching the leader.
   */
  transferLeadership(to: NodeId): void {
    if (this.role !== "leader") {
      if (this.lead === NONE || this.role !== "follower") throw new ProposalDropped("no leader known");
      if (!this.voters.has(to)) throw new ProposalDropped(notAVoter(to, this.learners.has(to)));
      if (to !== this.lead) {
        this.send({ type: "transferLeader", to: this.lead, context: new TextEncoder().encode(to) });
      }
      return;
    }
    if (to === this.id) return;
    if (!this.voters.has(to)) throw new ProposalDropped(notAVoter(to, this.learners.has(to)));
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    // The transfer is aborted if it has not completed within an election timeout.
    this.electionElapsed = 0;
    const pr = this.prs.get(to)!;
    if (pr.match === this.log.lastIndex()) this.send({ type: "timeoutNow", to, term: this.term });
    else this.sendAppend(to, true);
  }

  /**
   * The transport could not reach `id` (its dial failed or its connection dropped). A leader
   * that was pipelining appends to it stops: the peer goes back to probe, one append in flight
   * until it answers, so a dead peer is not sent (and its link does not hold) one append per
   * entry. Only what the leader sends changes, never what it commits. A peer in snapshot state
   * stays there (the snapshot's own wait retries it); anything else here is a no-op.
   */
  reportUnreachable(id: NodeId): void {
    if (this.role !== "leader" || id === this.id) return;
    const pr = this.prs.get(id);
    if (pr !== undefined && pr.state === "replicate") pr.becomeProbe();
  }

  /**
   * The transport lost snapshot `index` on its way to `id` (dropped from the link's queue, or its
   * connection failed before the write completed; etcd's ReportSnapshot with SnapshotFailure).
   * The peer leaves snapshot state at once instead of waiting out the snapshot's own retry (2
   * election timeouts): it goes to probe with its probe paused, so the next heartbeat answer
   * sends it what it needs (the snapshot again). A dead peer answers no heartbeat and is sent
   * nothing more. A report about another snapshot than the one in flight is ignored.
   */
  reportSnapshotLost(id: NodeId, index: number): void {
    if (this.role !== "leader" || id === this.id) return;
    const pr = this.prs.get(id);
    if (pr === undefined || pr.state !== "snapshot" || pr.pendingSnapshot !== index) return;
    pr.snapshotLost();
  }

  /**
   * Requests a linearizable read. A ReadState {index, ctx} appears in a later Ready: serve the
   * read once the state machine has applied `index`. Reads may be lost (leader change); retry
   * with a timeout. Throws ProposalDropped when no leader is known.
   */
  readIndex(ctx: Uint8Array): void {
    if (!(ctx instanceof Uint8Array)) throw new RaftUsageError("readIndex: ctx must be a Uint8Array");
    if (this.role === "leader") {
      this.leaderReadIndex(this.id, ctx);
      return;
    }
    if (this.lead === NONE || this.role !== "follower") throw new ProposalDropped("no leader known");
    this.send({ type: "readIndex", to: this.lead, context: ctx });
  }

  /** The index of the last entry of the log (persisted or not). */
  lastIndex(): number {
    return this.log.lastIndex();
  }

  /** The log's entries after `index` (persisted or not; those compacted away are not). */
  entriesAfter(index: number): Entry[] {
    return this.log.slice(Math.max(index + 1, this.log.firstIndex()), this.log.lastIndex() + 1);
  }

  /** Whether the configuration names this node a voter under its own incarnation (it votes). */
  isAdmitted(): boolean {
    return this.voters.has(this.id) && this.selfCurrent();
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    return (
      this.msgs.length > 0 ||
      this.log.unstableEnts.length > 0 ||
      this.log.unstableSnap !== undefined ||
      this.readStates.length > 0 ||
      this.log.hasNextCommitted() ||
      !this.sameHard(this.prevHard) ||
      this.prevSoft.lead !== this.lead ||
      this.prevSoft.role !== this.role
    );
  }

  ready(): Ready {
    if (this.outstanding) throw new RaftUsageError("ready() called again before advance()");
    const entries = this.log.unstableEnts.slice();
    const snapshot = this.log.unstableSnap;
    const committedEntries = this.log.nextCommitted(this.maxApplyBytes);
    const hard = this.hardState();
    const hardState = this.sameHard(this.prevHard) ? undefined : hard;
    const softState =
      this.prevSoft.lead !== this.lead || this.prevSoft.role !== this.role
        ? { lead: this.lead, role: this.role }
        : undefined;
    const rd: Ready = {
      messages: this.msgs,
      entries,
      hardState,
      committedEntries,
      snapshot,
      readStates: this.readStates,
      softState,
    };
    this.msgs = [];
    this.readStates = [];
    if (hardState) this.prevHard = hardState;
    if (softState) this.prevSoft = softState;
    const lastEntry = entries[entries.length - 1];
    this.outstanding = {
      ready: rd,
      lastIndex: lastEntry ? lastEntry.index : 0,
      lastTerm: lastEntry ? lastEntry.term : 0,
      snapIndex: snapshot ? snapshot.meta.index : 0,
      appliedTo:
        committedEntries.length > 0
          ? committedEntries[committedEntries.length - 1].index
          : snapshot
            ? snapshot.meta.index
            : 0,
    };
    return rd;
  }

  /** Acknowledges that `rd` was persisted, sent and applied. */
  advance(rd: Ready): void {
    const out = this.outstanding;
    if (!out || out.ready !== rd) throw new RaftUsageError("advance() must be given the Ready last returned");
    this.outstanding = null;
    if (out.snapIndex > 0) {
      this.log.stableSnapTo(out.snapIndex);
      this.log.applied = Math.max(this.log.applied, out.snapIndex);
    }
    if (out.lastIndex > 0) this.log.stableTo(out.lastIndex, out.lastTerm);
    if (out.appliedTo > this.log.applied) this.log.applied = out.appliedTo;
    this.foldConfHistory();
    if (this.role === "leader") {
      // Our own log counts towards a quorum only once durable.
      const self = this.prs.get(this.id);
      if (self?.maybeUpdate(this.log.stableLastIndex()) && this.maybeCommit()) this.bcastAppend();
    }
  }

  /** The committed cluster level changed (the driver applied its entry, or restored it). */
  setClusterLevel(level: number): void {
    this.clusterLevel = level;
  }

  /**
   * Leader: the minimum feature level over the configuration's members (voters and learners),
   * or undefined when not the leader or while a member has not answered this term.
   */
  fleetLevel(): number | undefined {
    if (this.role !== "leader") return undefined;
    return this.memberLevels.fleetMinimum(this.members(), this.id, this.level);
  }

  /** Leader: the level member `id` advertised this term (undefined: not heard, or not the leader). */
  memberLevel(id: NodeId): number | undefined {
    if (this.role !== "leader") return undefined;
    return id === this.id ? this.level : this.memberLevels.get(id);
  }

  /** Leader: the members it keeps a heard level or replaced incarnations for, this term. */
  leaderBookkeeping(): { levels: NodeId[]; retired: NodeId[]; departed: NodeId[]; trusted: NodeId[] } {
    return { levels: this.memberLevels.ids(), ...this.retired.ids() };
  }

  status(): RaftStatus {
    const progress = new Map<NodeId, ProgressStatus>();
    if (this.role === "leader") {
      for (const [id, pr] of this.prs) {
        progress.set(id, { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive });
      }
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      lead: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      conf: this.conf,
      isLearner: this.learners.has(this.id),
      incarnation: this.incarnation,
      admitted: this.isAdmitted(),
      leadTransferee: this.leadTransferee,
      level: this.level,
      clusterLevel: this.clusterLevel,
      progress,
    };
  }

  /** Membership in effect after log index `index` (index >= the last compaction point). */
  confStateAt(index: number): ConfState {
    let conf = this.confBase;
    for (const h of this.confHistory) {
      if (h.index > index) break;
      conf = h.conf;
    }
    return conf;
  }

  /**
   * The data directories retired after log index `index` (index >= the last compaction point),
   * for a snapshot at `index` to keep: what the base held, replayed through the changes up to it.
   */
  retiredAt(index: number): RetiredState {
    return this.retiredDirsAt(index).state();
  }

  private retiredDirsAt(index: number): RetiredDirs {
    const dirs = this.retiredBase.clone();
    let conf = this.confBase;
    for (const h of this.confHistory) {
      if (h.index > index) break;
      dirs.change(conf, h.conf);
      conf = h.conf;
    }
    return dirs;
  }

  /**
   * The data directories retired now (checkers): always what a replay of the log would give,
   * retiredAt(lastIndex()), or a restart would forget or invent what this node refuses.
   */
  retiredNow(): RetiredState {
    return this.retired.state();
  }

  /** Term of log entry i, or undefined if compacted or beyond the log (diagnostics and checkers). */
  termAt(i: number): number | undefined {
    return this.log.term(i);
  }

  /** The term and index of the last log entry (for tests and diagnostics). */
  lastLogId(): { index: number; term: number } {
    return { index: this.log.lastIndex(), term: this.log.lastTerm() };
  }

  // ---------------------------------------------------------------- roles

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private sameHard(h: HardState): boolean {
    return h.term === this.term && h.vote === this.vote && h.commit === this.log.committed;
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + this.prng.int(this.electionTimeout);
    this.leadTransferee = NONE;
    this.votes.clear();
    this.prs.clear();
    this.readOnly.clear();
    // retired is kept: a new leader refuses what the last one retired.
    this.memberLevels.clear();
    this.pendingReadRequests = [];
    this.uncommittedBytes = 0;
    this.uncommitted = [];
  }

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.role = "follower";
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    // Does not touch term or vote: a pre-vote round must leave no trace if it fails.
    this.votes.clear();
    this.lead = NONE;
    this.role = "preCandidate";
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = "leader";
    this.lead = this.id;
    const last = this.log.lastIndex();
    for (const id of this.members()) {
      const pr = new Progress(last + 1, this.maxInflight);
      // Followers must prove they are alive within the first election timeout (check-quorum).
      pr.recentActive = id === this.id;
      this.prs.set(id, pr);
    }
    const self = this.prs.get(this.id);
    if (self) {
      self.maybeUpdate(this.log.stableLastIndex());
      self.becomeReplicate();
    }
    // Entries from earlier terms may hold an uncommitted conf change: be conservative.
    this.pendingConfIndex = last;
    this.appendEntries([{ term: 0, index: 0, type: "normal", data: EMPTY }]);
  }

  private promotable(): boolean {
    return this.voters.has(this.id) && this.log.unstableSnap === undefined && this.selfCurrent();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.startCampaign(this.preVote ? "preVote" : "election");
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    this.leaderTicks++;
    for (const [id, pr] of this.prs) {
      if (pr.state !== "snapshot") continue;
      // The snapshot (or its answer) was lost, or the follower refused it and its wait is over,
      // or it refused one older than the snapshot we hold now: probe again, which resends it if
      // still needed.
      const waited = ++pr.snapshotTicks > pr.snapshotWait(2 * this.electionTimeout);
      if (waited || (pr.snapshotRefusals > 0 && this.newerSnapshotThan(pr.pendingSnapshot))) {
        pr.becomeProbe();
        this.sendAppend(id, false);
      }
    }
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
      }
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      // Every heartbeat carries the newest unconfirmed read's context (as etcd does): a read
      // whose own heartbeat round was lost is confirmed by a later one instead of hanging.
      this.bcastHeartbeat(this.readOnly.newestCtx() ?? EMPTY);
      this.promoteRejoining();
    }
  }

  private startCampaign(kind: "preVote" | "election" | "transfer"): void {
    if (!this.promotable()) return;
    let voteTerm: number;
    if (kind === "preVote") {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    const type = kind === "preVote" ? "preVote" : "vote";
    this.votes.set(this.id, true);
    if (this.pollResult() === "won") {
      if (kind === "preVote") this.startCampaign("election");
      else this.becomeLeader();
      return;
    }
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const v of this.voters) {
      if (v === this.id) continue;
      // The request names the incarnation this candidate's configuration has for the voter: a
      // voter answers only requests that name its own data directory (handleVoteRequest).
      const context = utf8.encode(incarnationIn(this.conf, v));
      this.send({ type, to: v, term: voteTerm, index, logTerm, force: kind === "transfer", context });
    }
  }

  private pollResult(): "won" | "lost" | "pending" {
    let granted = 0;
    let rejected = 0;
    for (const v of this.voters) {
      const g = this.votes.get(v);
      if (g === true) granted++;
      else if (g === false) rejected++;
    }
    const q = quorum(this.voters.size);
    if (granted >= q) return "won";
    if (rejected > this.voters.size - q) return "lost";
    return "pending";
  }

  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === "preVote" && m.term > this.term);
    const respType = m.type === "vote" ? "voteResp" : "preVoteResp";
    if (canVote && this.namesMe(m.context) && this.log.isUpToDate(m.index, m.logTerm)) {
      this.send({ type: respType, to: m.from, term: m.term });
      if (m.type === "vote") {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, term: this.term, reject: true });
    }
  }

  // ---------------------------------------------------------------- per-role steps

  private stepLocalForward(m: Message): void {
    if (m.type === "prop") {
      if (this.role === "leader") this.leaderAcceptProposal(m.entries);
      else if (this.role === "follower" && this.lead !== NONE) {
        this.msgs.push(newMessage({ ...m, from: this.id, to: this.lead, incarnation: this.incarnation }));
      }
      return;
    }
    if (m.type === "transferLeader") {
      if (this.role !== "leader") return;
      try {
        this.transferLeadership(new TextDecoder().decode(m.context));
      } catch (err) {
        if (!(err instanceof ProposalDropped)) throw err;
      }
      return;
    }
    // readIndex forwarded by a follower
    if (this.role === "leader") this.leaderReadIndex(m.from, m.context);
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    // The level says what the process at that member understands, whichever data directory it
    // runs on: a member being replaced under a new incarnation counts too (its replacement
    // may itself wait for the level, which must not wait for its replacement).
    if (carriesLevel(m.type)) this.memberLevels.record(m.from, m.level);
    if (!this.current(m)) {
      // Another data directory than the configuration's: its replies say nothing about the
      // log the configuration counts on (a dead process's late ack, or a node that lost its
      // disk). Dropped; a new incarnation is replaced (learner under it, promoted back later).
      if (m.type === "appResp" || m.type === "heartbeatResp") this.maybeReplace(m.from, m.incarnation);
      return;
    }
    switch (m.type) {
      case "appResp":
        pr.recentActive = true;
        pr.unansweredSince = -1;
        this.handleAppendResponse(m, pr);
        break;
      case "snapStatus":
        pr.recentActive = true;
        pr.unansweredSince = -1;
        // Only an answer about the snapshot in flight: a late one about an earlier snapshot
        // says nothing about this one.
        if (m.reject && pr.state === "snapshot" && m.index === pr.pendingSnapshot) {
          pr.snapshotRefused();
          const reason = utf8Decoder.decode(m.context.subarray(0, MAX_REFUSAL_REASON_BYTES));
          this.onSnapshotRefused?.(m.from, m.index, reason, pr.snapshotWait(2 * this.electionTimeout));
        }
        break;
      case "heartbeatResp":
        pr.recentActive = true;
        pr.unansweredSince = -1;
        pr.probeSent = false;
        if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirstOne();
        // Sent even when empty: a lost append in replicate state is then rejected, which
        // makes us back up (otherwise a lagging follower could wait forever).
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        if (m.context.length > 0) this.ackRead(m.from, m.context);
        break;
      default:
        break;
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    if (m.reject) {
      let hint = m.rejectHint;
      if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm);
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && !pr.isPaused()) this.sendAppend(m.from, false);
      return;
    }
    if (pr.state === "probe") pr.becomeReplicate();
    else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "replicate") pr.inflights.freeLE(m.index);

    if (this.maybeCommit()) {
      if (this.role !== "leader") return;
      this.bcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from, true);
    }
    // Pipeline: keep sending while the window allows and the follower lags.
    while (pr.next <= this.log.lastIndex() && !pr.isPaused()) {
      if (!this.sendAppend(m.from, false)) break;
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: "timeoutNow", to: m.from, term: this.term });
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "app":
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        break;
      case "heartbeat":
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        break;
      case "snap":
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        break;
      case "voteResp":
      case "preVoteResp": {
        if ((m.type === "preVoteResp") !== (this.role === "preCandidate")) return;
        if (!this.current(m)) return; // a vote of another data directory than the configuration's
        this.votes.set(m.from, !m.reject);
        const res = this.pollResult();
        if (res === "won") {
          if (this.role === "preCandidate") this.startCampaign("election");
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === "lost") {
          this.becomeFollower(this.term, NONE);
        }
        break;
      }
      default:
        break;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "app":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        break;
      case "heartbeat":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        break;
      case "snap":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        break;
      case "timeoutNow":
        this.startCampaign("transfer");
        break;
      case "readIndexResp":
        this.readStates.push({ index: m.index, ctx: m.context });
        break;
      default:
        break;
    }
  }

  // ---------------------------------------------------------------- follower log handling

  private handleAppend(m: Message): void {
    // A malformed append (entries not following prevLogIndex) is ignored, never half-applied.
    for (let k = 0; k < m.entries.length; k++) if (m.entries[k].index !== m.index + 1 + k) return;
    if (m.index < this.log.committed) {
      this.send({ type: "appResp", to: m.from, term: this.term, index: this.log.committed });
      return;
    }
    if (!this.log.matchTerm(m.index, m.logTerm)) {
      // Fast back-up: point the leader at the last index that could match, with its term.
      let hint = Math.min(m.index, this.log.lastIndex());
      hint = this.log.findConflictByTerm(hint, m.logTerm);
      this.send({
        type: "appResp",
        to: m.from,
        term: this.term,
        index: m.index,
        reject: true,
        rejectHint: hint,
        logTerm: this.log.term(hint) ?? 0,
      });
      return;
    }
    const lastNew = m.index + m.entries.length;
    const ci = this.log.findConflict(m.entries);
    if (ci !== 0) {
      const fresh = m.entries.slice(ci - m.index - 1);
      if (ci <= this.log.lastIndex() && this.truncateConfHistory(ci)) {
        // A conf change cut off never happened: its rollback retires nothing (the directory
        // it named may be the member's live one, which a later leader must still readmit), and
        // what it retired or moved (a departed member's last directory) is undone: the list
        // is the log's as kept, the one a restart would rebuild.
        this.retired = this.retiredDirsAt(ci - 1);
        this.applyConf(this.conf);
      }
      this.log.append(fresh);
      this.recordAppendedConf(fresh);
      this.applyConf(this.conf);
    }
    // Commit only what this append verified (copycat#265).
    this.log.commitTo(Math.min(m.commit, lastNew));
    this.send({ type: "appResp", to: m.from, term: this.term, index: lastNew });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: "heartbeatResp", to: m.from, term: this.term, context: m.context });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s) return;
    if (this.refusingSnapshot !== null) {
      this.answerRefusedSnapshot(m, this.refusingSnapshot);
      return;
    }
    const { index, term } = s.meta;
    if (index <= this.log.committed) {
      this.send({ type: "appResp", to: m.from, term: this.term, index: this.log.committed });
      return;
    }
    if (this.log.matchTerm(index, term)) {
      // We already have the snapshot's last entry: just fast-forward the commit.
      this.log.commitTo(index);
      this.send({ type: "appResp", to: m.from, term: this.term, index: this.log.lastIndex() });
      return;
    }
    // The snapshot replaces the log and its configuration history, and so what they retired.
    // From level 8 on it carries what the leader's history retired up to it (checked by the
    // codec): that is what a replay would give, and the changes appended after it add to it as
    // to any base. What this node's own committed history retired is kept beside it: that
    // history is a prefix of the leader's, but the leader's list misses what a snapshot it
    // installed below level 8 passed through (retired-upgrade.test.ts). A leader of an older
    // build sends none: this node keeps its own, and what changed from the committed
    // configuration to the snapshot's is retired. Either way the uncommitted suffix the
    // snapshot replaces is rolled back as a cut is (undone, retiring nothing).
    const committed = this.log.committed;
    const own = this.retiredDirsAt(committed);
    if (s.meta.retired !== undefined) {
      this.retired = RetiredDirs.from(s.meta.retired);
      this.retired.keep(own, s.meta.conf);
    } else {
      this.retired = own;
      this.retired.change(this.confStateAt(committed), s.meta.conf);
    }
    this.retiredBase = this.retired.clone();
    const retired: RetiredState = this.retired.state();
    this.log.restore({ meta: { ...s.meta, retired }, data: s.data });
    this.confBase = s.meta.conf;
    this.confHistory = [];
    this.conf = s.meta.conf;
    this.applyConf(this.conf);
    this.send({ type: "appResp", to: m.from, term: this.term, index: this.log.lastIndex() });
  }

  /**
   * The driver refused snapshot message `m` before stepping it (it could not restore it;
   * `reason` is the refusal's code): as etcd's MsgSnapStatus, tell the leader, so it backs off
   * instead of resending on every snapshot timeout. The message is stepped as any snap (a later
   * term adopted, a candidate stepping down, its sender taken as leader, the leader lease's
   * refusals) with only the install replaced by the answer: a snapshot that came at a later term
   * than ours is answered at once rather than at the next resend, a whole backoff step later.
   * Answered only once the whole fleet reads the message (LEVEL_SNAP_STATUS): a leader of an
   * older build would refuse the whole payload, and below it nothing is stepped (as before).
   * Returns whether an answer was queued.
   */
  refuseSnapshot(m: Message, reason: string): boolean {
    if (m.type !== "snap" || m.snapshot === undefined) return false;
    if (this.clusterLevel < LEVEL_SNAP_STATUS) return false;
    this.refusingSnapshot = reason;
    this.snapshotAnswered = false;
    try {
      this.step(m);
    } finally {
      this.refusingSnapshot = null;
    }
    return this.snapshotAnswered;
  }

  /** handleSnapshot's replacement while refuseSnapshot steps a refused one: the answer. */
  private answerRefusedSnapshot(m: Message, reason: string): void {
    this.send({
      type: "snapStatus",
      to: m.from,
      term: this.term,
      index: (m.snapshot as Snapshot).meta.index,
      reject: true,
      context: utf8.encode(reason).subarray(0, MAX_REFUSAL_REASON_BYTES),
    });
    this.snapshotAnswered = true;
  }

  private newerSnapshotThan(index: number): boolean {
    try {
      return this.storage.snapshot().meta.index > index;
    } catch {
      return false;
    }
  }

  // ---------------------------------------------------------------- leader replication

  private proposeEntry(type: EntryType, data: Uint8Array): ProposalResult {
    if (this.role === "leader") {
      if (this.leadTransferee !== NONE) throw new ProposalDropped("leadership transfer in progress");
      if (!this.voters.has(this.id) && !this.learners.has(this.id)) {
        throw new ProposalDropped("this leader is being removed from the cluster");
      }
      if (!this.roomFor(data.length)) throw new ProposalDropped(UNCOMMITTED_FULL);
      const e = this.appendEntries([{ term: 0, index: 0, type, data }]);
      this.trackUncommitted(e.index, data.length);
      this.bcastAppend();
      return { forwarded: false, index: e.index, term: e.term };
    }
    if (this.role !== "follower" || this.lead === NONE) throw new ProposalDropped("no leader known");
    this.send({ type: "prop", to: this.lead, entries: [{ term: 0, index: 0, type, data }] });
    return { forwarded: true, index: 0, term: 0 };
  }

  /** Forwarded proposals: the same rules as local ones, but refusals are silent. */
  private leaderAcceptProposal(ents: readonly Entry[]): void {
    if (this.leadTransferee !== NONE || ents.length === 0) return;
    if (!this.voters.has(this.id) && !this.learners.has(this.id)) return;
    const accepted: Entry[] = [];
    let acceptedBytes = 0;
    for (const forwarded of ents) {
      let e = forwarded;
      if (e.type === "conf") {
        let cc: ConfChange;
        try {
          cc = decodeConfChange(e.data);
        } catch {
          continue;
        }
        if (this.confChangeRefusal(cc) !== "") continue;
        if (!this.roomFor(e.data.length)) continue;
        // Append one at a time so pendingConfIndex covers it before the next is checked.
        this.trackUncommitted(this.appendEntries([e]).index, e.data.length);
        continue;
      }
      // Forwarded proposals past the bound are dropped; the proposer's own bound and timeout
      // tell it (etcd drops them the same way). Checked before the vetting: what is vetted is
      // appended (the driver counts it as in flight until it is applied).
      if (!this.roomFor(e.data.length, acceptedBytes)) continue;
      // The driver checks it against this leader's state (the proposer checked its own view).
      if (this.vetForwarded !== undefined) {
        const data = this.vetForwarded(e.data);
        // Its refusal instead: appended even if longer (the proposer learns of it at once).
        if (data !== e.data) e = { ...e, data };
      }
      acceptedBytes += e.data.length;
      accepted.push(e);
    }
    if (accepted.length > 0) {
      const last = this.appendEntries(accepted).index;
      for (let k = 0; k < accepted.length; k++) {
        this.trackUncommitted(last - accepted.length + 1 + k, accepted[k].data.length);
      }
    }
    this.bcastAppend();
  }

  private confChangeRefusal(cc: ConfChange): string {
    if (this.pendingConfIndex > this.log.committed) return "a membership change is still uncommitted";
    if (this.log.term(this.log.committed) !== this.term) {
      return "the leader has not yet committed an entry in its term";
    }
    const problem = confChangeProblem(this.conf, cc);
    if (problem !== "") return problem;
    if (cc.type === "addLearner" && cc.node === this.id && this.voters.has(this.id)) {
      return "the leader cannot demote itself; transfer leadership first";
    }
    if (cc.type === "addVoter" && this.learners.has(cc.node)) return this.promotionRefusal(cc.node);
    return "";
  }

  /**
   * Why learner `id` cannot become a voter now ("" if it can). A learner counted toward the
   * quorum at once could stall every commit when it lags, and so when it is silent: its match
   * is what its data directory acknowledged before it went down or lost its disk (replies of a
   * replacing directory are dropped). Promoting such a learner (two-clusters seeds 287 and 425:
   * down, or restarted on an empty directory) made a quorum of voters that could not vote.
   */
  private promotionRefusal(id: NodeId): string {
    const pr = this.prs.get(id);
    const match = pr?.match ?? 0;
    const lag = this.log.lastIndex() - match;
    if (lag > this.maxPromoteLag) {
      return `${LEARNER_BEHIND}: ${id} is ${lag} entries behind the leader (it has ${match} of ${this.log.lastIndex()}); promote it once it is within ${this.maxPromoteLag}`;
    }
    // As check-quorum counts a voter: silent for an election timeout is not active.
    const waited = pr === undefined || pr.unansweredSince < 0 ? 0 : this.leaderTicks - pr.unansweredSince;
    if (pr === undefined || waited >= this.electionTimeout) {
      return `${LEARNER_BEHIND}: ${id} has not answered the leader for ${waited} ticks (down, or its data directory replaced); promote it once it answers`;
    }
    return "";
  }

  /** Appends entries to the leader's log with fresh indexes in the current term. */
  private appendEntries(ents: readonly Entry[]): Entry {
    let index = this.log.lastIndex();
    const out: Entry[] = [];
    for (const e of ents) out.push({ term: this.term, index: ++index, type: e.type, data: e.data });
    this.log.append(out);
    for (const e of out) if (e.type === "conf") this.pendingConfIndex = e.index;
    if (this.recordAppendedConf(out)) this.applyConf(this.conf);
    return out[out.length - 1];
  }

  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (!pr || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const last = this.log.lastIndex();
    let ents: Entry[] | null = null;
    if (prevTerm !== undefined) {
      try {
        ents = this.log.slice(pr.next, Math.min(last + 1, pr.next + this.maxMsgEntries), this.maxMsgBytes);
      } catch {
        ents = null;
      }
    }
    if (prevTerm === undefined || ents === null) return this.sendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: "app",
      to,
      term: this.term,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
    });
    pr.sentAppend(prevIndex + ents.length, ents.length);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    let snap: Snapshot;
    try {
      snap = this.storage.snapshot();
    } catch {
      return false; // temporarily unavailable: the next heartbeat answer retries
    }
    if (snap.meta.index === 0) return false;
    // At the lower of the fleet's level and the one `to` advertised: an older build joining a
    // fleet past it refuses the frame a list rides in (and never catches up), where without the
    // list it installs the snapshot and stops at its level with UPGRADE_REQUIRED, its reason.
    const level = Math.min(this.clusterLevel, this.memberLevels.get(to) ?? this.clusterLevel);
    this.send({ type: "snap", to, term: this.term, snapshot: snapshotToSend(snap, level) });
    pr.becomeSnapshot(snap.meta.index);
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private bcastHeartbeat(ctx: Uint8Array): void {
    const committed = this.log.committed;
    const learnersToo = this.heartbeatRound++ % this.learnerHeartbeatEvery === 0;
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      // A voter rejoining under a new incarnation hears the leader as often as voters do.
      if (!learnersToo && this.learners.has(id) && !isRejoining(this.conf, id)) continue;
      this.send({
        type: "heartbeat",
        to: id,
        term: this.term,
        commit: Math.min(pr.match, committed),
        context: ctx,
      });
    }
  }

  /** Commits the highest index a quorum of voters holds, if it is of this term (Figure 8). */
  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const v of this.voters) matches.push(this.prs.get(v)?.match ?? 0);
    if (matches.length === 0) return false;
    matches.sort((a, b) => b - a);
    const idx = matches[quorum(matches.length) - 1];
    if (idx <= this.log.committed || this.log.term(idx) !== this.term) return false;
    this.log.commitTo(idx);
    this.afterLeaderCommit();
    return true;
  }

  /** Whether `bytes` more uncommitted data fits (one proposal always fits when none is pending). */
  private roomFor(bytes: number, alsoPending = 0): boolean {
    const used = this.uncommittedBytes + alsoPending;
    return used === 0 || used + bytes <= this.maxUncommittedBytes;
  }

  private trackUncommitted(index: number, bytes: number): void {
    this.uncommittedBytes += bytes;
    this.uncommitted.push([index, bytes]);
  }

  private afterLeaderCommit(): void {
    let k = 0;
    while (k < this.uncommitted.length && this.uncommitted[k][0] <= this.log.committed) {
      this.uncommittedBytes -= this.uncommitted[k][1];
      k++;
    }
    if (k > 0) this.uncommitted = this.uncommitted.slice(k);
    if (this.pendingReadRequests.length > 0 && this.log.term(this.log.committed) === this.term) {
      const reqs = this.pendingReadRequests;
      this.pendingReadRequests = [];
      for (const r of reqs) this.leaderReadIndex(r.from, r.ctx);
    }
    const lastConf = this.confHistory[this.confHistory.length - 1];
    if (!this.voters.has(this.id) && (lastConf === undefined || lastConf.index <= this.log.committed)) {
      // Our own removal committed: let the followers learn it, then stop leading (thesis §4.2.2).
      this.bcastAppend();
      this.becomeFollower(this.term, NONE);
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.voters) {
      if (v === this.id || this.prs.get(v)?.recentActive) active++;
    }
    return active >= quorum(this.voters.size);
  }

  // ---------------------------------------------------------------- ReadIndex

  private leaderReadIndex(from: NodeId, ctx: Uint8Array): void {
    if (this.readOnly.size + this.pendingReadRequests.length >= this.maxPendingReads) {
      if (from === this.id) throw new ProposalDropped(READS_FULL);
      return; // a forwarded read: the follower's own bound and timeout answer it
    }
    if (this.log.term(this.log.committed) !== this.term) {
      // Our commit index may lag the true one until we commit in our term (thesis §6.4 step 1).
      this.pendingReadRequests.push({ from, ctx });
      return;
    }
    const index = this.log.committed;
    if (this.voters.size === 1 && this.voters.has(this.id)) {
      this.respondRead(from, index, ctx);
      return;
    }
    const r = this.readOnly.add(index, from, ctx);
    if (!r) return;
    if (this.voters.has(this.id)) r.acks.add(this.id);
    this.bcastHeartbeat(ctx);
  }

  private ackRead(from: NodeId, ctx: Uint8Array): void {
    const r = this.readOnly.get(ctx);
    if (!r) return;
    r.acks.add(from);
    let n = 0;
    for (const a of r.acks) if (this.voters.has(a)) n++;
    if (n < quorum(this.voters.size)) return;
    for (const done of this.readOnly.releaseThrough(r)) this.respondRead(done.from, done.index, done.ctx);
  }

  private respondRead(from: NodeId, index: number, ctx: Uint8Array): void {
    if (from === this.id) this.readStates.push({ index, ctx });
    else this.send({ type: "readIndexResp", to: from, term: this.term, index, context: ctx });
  }

  // ---------------------------------------------------------------- membership

  private members(): NodeId[] {
    return [...this.conf.voters, ...this.conf.learners];
  }

  private recordConfEntry(e: Entry): void {
    let cc: ConfChange;
    try {
      cc = decodeConfChange(e.data);
    } catch {
      return;
    }
    this.conf = applyConfChange(this.conf, cc);
    this.confHistory.push({ index: e.index, conf: this.conf });
  }

  /**
   * Records the conf entries of `ents` (just appended), retiring what each change took in order,
   * as a replay of the log at a start does: one step over a batch would miss a directory the
   * batch passed through (replaced, then replaced again). Whether there was any.
   */
  private recordAppendedConf(ents: readonly Entry[]): boolean {
    let any = false;
    for (const e of ents) {
      if (e.type !== "conf") continue;
      const before = this.conf;
      this.recordConfEntry(e);
      // Every node: a leader it becomes later refuses what this change retired.
      this.retired.change(before, this.conf);
      any = true;
    }
    return any;
  }

  /** Drops conf entries at `from` and above; whether any was dropped. */
  private truncateConfHistory(from: number): boolean {
    let k = this.confHistory.length;
    while (k > 0 && this.confHistory[k - 1].index >= from) k--;
    if (k === this.confHistory.length) return false;
    this.confHistory.length = k;
    this.conf = k > 0 ? this.confHistory[k - 1].conf : this.confBase;
    return true;
  }

  /** Folds conf history below the log's first index into the base (it can never be truncated). */
  private foldConfHistory(): void {
    if (this.confHistory.length < 8) return;
    const first = this.log.firstIndex();
    while (this.confHistory.length > 0 && this.confHistory[0].index < first) {
      const conf = this.confHistory.shift()!.conf;
      this.retiredBase.change(this.confBase, conf);
      this.confBase = conf;
    }
  }

  /** Makes `conf` the configuration in effect (on append, thesis §4.1). */
  private applyConf(conf: ConfState): void {
    const before = this.confApplied;
    this.confApplied = conf;
    this.voters = new Set(conf.voters);
    this.learners = new Set(conf.learners);
    if (this.role !== "leader") return;
    for (const [id, pr] of this.prs) {
      if (id === this.id || incarnationIn(before, id) === incarnationIn(conf, id)) continue;
      // Another data directory: what the previous one acknowledged is not on this one.
      pr.match = 0;
      pr.becomeProbe();
      pr.next = 1;
      pr.recentActive = false;
      pr.unansweredSince = -1;
      this.readOnly.dropAcks(id);
    }
    const next = this.log.lastIndex() + 1;
    for (const id of this.members()) {
      if (!this.prs.has(id)) this.prs.set(id, new Progress(next, this.maxInflight));
    }
    for (const id of [...this.prs.keys()]) {
      if (!this.voters.has(id) && !this.learners.has(id) && id !== this.id) this.prs.delete(id);
    }
    // A member that left takes its level with it (not kept for the term).
    for (const id of this.memberLevels.ids())
      if (!this.voters.has(id) && !this.learners.has(id)) this.memberLevels.forget(id);
    if (this.leadTransferee !== NONE && !this.voters.has(this.leadTransferee)) this.leadTransferee = NONE;
    // A smaller quorum may already hold more entries.
    if (this.maybeCommit() && this.role === "leader") this.bcastAppend();
  }

  private send(init: Omit<MessageInit, "from">): void {
    if (init.type === "app" || init.type === "heartbeat" || init.type === "snap") {
      const pr = this.role === "leader" ? this.prs.get(init.to) : undefined;
      if (pr !== undefined && pr.unansweredSince < 0) pr.unansweredSince = this.leaderTicks;
    }
    this.msgs.push(messageFrom(this.id, init, this.incarnation, carriesLevel(init.type) ? this.level : 0));
  }

  // ---------------------------------------------------------------- incarnations

  /** Leader: whether `m` comes from a data directory retired for its sender (not its current one). */
  private fromRetired(m: Message): boolean {
    return this.role === "leader" && this.retired.has(m.from, m.incarnation) && !this.current(m);
  }

  /** Whether `m` comes from the data directory the configuration names for its sender. */
  private current(m: Message): boolean {
    return m.incarnation === incarnationIn(this.conf, m.from);
  }

  /**
   * Whether a vote request names this node's data directory. A new incarnation (it lost its
   * disk, and with it its votes and acknowledged entries) is not named by any candidate until
   * the leader replaced it, so it never votes as its previous self; an intact directory whose
   * own log does not show its admission yet (lost unsynced) still votes when the candidate
   * names it. A request of the previous version names none: a founder's ("").
   */
  private namesMe(ctx: Uint8Array): boolean {
    const own = this.incarnationBytes;
    if (ctx.length !== own.length) return false;
    for (let i = 0; i < own.length; i++) if (ctx[i] !== own[i]) return false;
    return true;
  }

  /** Whether the configuration names this node's own data directory (it may vote and campaign). */
  private selfCurrent(): boolean {
    return incarnationIn(this.conf, this.id) === this.incarnation;
  }

  /** Leader: a member answered from a new data directory; replace it if a change can go now. */
  private maybeReplace(id: NodeId, incarnation: string): void {
    if (incarnation === "" || this.retired.has(id, incarnation)) return;
    try {
      this.replaceIncarnation(id, incarnation);
    } catch (err) {
      if (!(err instanceof ProposalDropped)) throw err;
    }
  }

  /**
   * Leader: member `id` is now data directory `incarnation` (it lost its disk). Proposes it as a
   * learner under that incarnation (a voter is demoted, marked to rejoin, and promoted back once
   * caught up: promoteRejoining). Throws ProposalDropped when no change can be proposed now.
   */
  replaceIncarnation(id: NodeId, incarnation: string): ProposalResult {
    if (this.role !== "leader") throw new ProposalDropped("not the leader");
    if (!this.voters.has(id) && !this.learners.has(id)) throw new ProposalDropped(`${id} is not a member`);
    const was = incarnationIn(this.conf, id);
    if (incarnation === "" || was === incarnation)
      throw new ProposalDropped(`${id} already is "${incarnation}"`);
    const rejoin = this.voters.has(id) || isRejoining(this.conf, id);
    const r = this.proposeConfChange({ type: "addLearner", node: id, incarnation, rejoin });
    this.retired.add(id, was);
    return r;
  }

  /** Leader: promotes rejoining learners that caught up (as often as it heartbeats voters). */
  private promoteRejoining(): void {
    const rejoin = this.conf.rejoin;
    if (rejoin === undefined || this.pendingConfIndex > this.log.committed) return;
    for (const id of rejoin) {
      const pr = this.prs.get(id);
      if (!pr || this.promotionRefusal(id) !== "") continue;
      try {
        this.proposeConfChange({ type: "addVoter", node: id });
        return;
      } catch (err) {
        if (!(err instanceof ProposalDropped)) throw err;
      }
    }
  }
}

/**
 * The snapshot as a leader sends it at level `level`: with its retired list once the receiver
 * reads one, without below. The list goes as this build holds it (RetiredDirs.from):
 * a snapshot file names none when nothing was retired, and one an older build wrote may keep
 * more directories per member than a follower's decoder takes.
 */
function snapshotToSend(snap: Snapshot, level: number): Snapshot {
  const { index, term, conf } = snap.meta;
  if (level >= LEVEL_SNAPSHOT_RETIRED)
    return {
      meta: { index, term, conf, retired: RetiredDirs.from(snap.meta.retired).state() },
      data: snap.data,
    };
  if (snap.meta.retired === undefined) return snap;
  return { meta: { index, term, conf }, data: snap.data };
}

function quorum(n: number): number {
  return Math.floor(n / 2) + 1;
}
