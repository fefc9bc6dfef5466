// This instance's membership in the fleet: the Raft driver over the replicated cluster state,
// the leader-only controllers (Consul membership, breakers, active health checks), the outcome
// channel to the leader, learner admission, and the proposals the admin API makes. It knows
// nothing about HTTP or routing snapshots: applied changes go to `onApplied`, and the
// composition root rebuilds routing from them.
//
// Leadership: controllers start only after the new leader has applied everything committed
// before its term (a ReadIndex barrier), so they never act on a stale view; the first leader
// of an empty cluster seeds it with its file's routing (SetRouting) first.
//
// Learners: configured peers that are not voters are added by the leader (checked every
// 250 ms), and a learner also asks every peer to add it (a "join" app message naming its own
// id, which must equal the transport-authenticated sender), so an instance missing from the
// leader's file can join too.
//
// Disk loss (issue 9): a data directory carries an incarnation, and the Raft configuration
// names each member's (config/raft). A configured voter restarted on an empty directory does
// not vote; the leader's Raft core replaces it (learner under the new incarnation, caught up,
// promoted back) when it answers, or when its join names the new incarnation. Only
// `bootstrap: new` founds a cluster.
//
// Rolling upgrades: a command is proposed only once the committed cluster level has it
// (COMMAND_LEVEL, config/raft/core/feature-level.ts); a committed entry this build cannot read
// stops the driver's applier with UPGRADE_REQUIRED (its Raft role goes on), reported as degraded
// "upgrade_required".

import { rmSync } from "node:fs";
import type { LookupFunction } from "node:net";
import { formatAddress } from "../../config/address.js";
import { CodedError, errorText, type StateErrorCode } from "../../config/coded-error.js";
import type { ConsulAgentConfig, RoutingConfig } from "../../config/file/schema.js";
import type { LogSink } from "../../config/log-sink.js";
import { DriverError, type DriverStatus, RaftDriver } from "../../config/raft/driver.js";
import type { StorageFs } from "../../config/raft/storage/index.js";
import { type PeerCounters, REJECT_REASONS } from "../../config/raft/transport/index.js";
import type { ClusterStateData, StateChange } from "../../config/state/cluster-state.js";
import type { BreakerOverride, CommandType } from "../../config/state/commands.js";
import { COMMAND_LEVEL, type CommandInput, encodeCommand } from "../../config/state/commands.js";
import { ClusterStateMachine } from "../../config/state/state-machine.js";
import { validateCommandOnce } from "../../config/state/validated-once.js";
import { BreakerController, FORCED_OPEN_UNTIL } from "../../health/breaker-controller.js";
import { HealthController } from "../../health/health-controller.js";
import { preloadKubernetesClient, stateUsesKubernetes } from "../../health/kubernetes-client.js";
import { MembershipController } from "../../health/membership-controller.js";
import { discoveryErrors } from "../metrics/discovery-errors.js";
import { upstreamLookup } from "../net/bounded-lookup.js";
import { decodeAppMessage, encodeJoin, encodeOutcomes } from "./app-messages.js";
import type { ClusterSettings } from "./cluster-settings.js";
import type { OutcomeRecorders } from "./outcome-recorders.js";
import { peerDialOptions } from "./peer-dials.js";

export interface ClusterNodeOptions {
  settings: ClusterSettings;
  logger: LogSink;
  /** The local file's routing (for seeding an empty cluster). */
  fileRouting: () => RoutingConfig;
  /** This instance's Consul agent settings (`discovery.consul`). */
  agent: ConsulAgentConfig;
  /** Quiet time after a discovery change before the leader proposes it (`discovery.debounce`). */
  discoveryDebounceMs?: number;
  outcomes: OutcomeRecorders;
  /** Every applied entry (`change` null: the whole state was replaced by a snapshot). */
  onApplied: (change: StateChange | null, before: ClusterStateData, after: ClusterStateData) => void;
  /** A pool entered or left the healthy-panic mode (membership or active checks). */
  onPanic?: (pool: string, panic: boolean) => void;
  /** How often outcomes go to the leader (default 100 ms). */
  outcomeIntervalMs?: number;
  /** Writes buffered log lines out now (called after rare, important events: breaker transitions). */
  flushLogs?: () => void;
  /** A joining instance that no member admitted in time: the process should exit with `reason`. */
  onCannotJoin?: (reason: string) => void;
  /**
   * Test seam: the feature level this instance understands and advertises (default: this
   * build's). A lower one makes it act as an older build. Never read from config or env.
   */
  level?: number;
  /** The Raft log's file operations (tests inject ENOSPC/EROFS here); default node:fs. */
  storageFs?: StorageFs;
  /**
   * Test seam: how long an apply may stall before the node says apply_stalled (default
   * APPLY_STALL_MS), so a test of the stall need not wait 10 s. Never read from config or env.
   */
  applyStallMs?: number;
  /**
   * This instance met its own descriptor or port limit in `op` (`health_check`: an active probe;
   * `raft_dial`: a dial to a Raft peer).
   */
  onLocalShortage?: (op: string, code: string) => void;
  /** The committed cluster level rose to `level` (applied from the log or a snapshot, in log order). */
  onClusterLevel?: (level: number) => void;
}

/** What /admin/state shows of this node's Raft view (one shape for the node and the admin API). */
export interface RaftView {
  id: string;
  role: string;
  term: number;
  /** Leader's node id, "" when none is known. */
  leader: string;
  commitIndex: number;
  appliedIndex: number;
  voters: readonly string[];
  learners: readonly string[];
  /** This data directory's incarnation, and whether the cluster admitted it as a voter. */
  incarnation?: string;
  admitted?: boolean;
  /** The committed cluster level, this instance's own level, and (leader only) each member's. */
  clusterLevel?: number;
  level?: number;
  memberLevels?: Record<string, number | null>;
  /**
   * The cluster id this data directory belongs to (16 hex digits, README "Raft", Cluster
   * identity), or null while the fleet has not fixed one yet (its first heartbeats, or a fleet
   * still mid-upgrade from a version without ids).
   */
  clusterId?: string | null;
}

/**
 * How long a Ready pass may wait on one thing, or the applied index stay behind the commit
 * index without moving, before the node says "apply_stalled". A loaded machine's fsync takes
 * seconds at worst; a node that applies nothing for this long serves an old ring version.
 */
export const APPLY_STALL_MS = 10_000;
/** Errors of proposals the caller may retry (the leader moved, or none is known yet). */
const RETRYABLE = new Set(["NO_LEADER", "NOT_LEADER", "LEADERSHIP_LOST", "TIMEOUT", "DROPPED"]);
/**
 * A proposal this follower could not send to the leader (no open connection: nothing was
 * proposed) is retried once after this long, enough for a link that was still dialling; a
 * second refusal is answered at once (a cut or dead link does not come back within a retry).
 */
const NOT_SENT_RETRY_MS = 200;

/** A proposal that was committed but rejected by the state machine (unknown pool ...). */
export class CommandRejected extends CodedError<StateErrorCode> {}

export class ClusterNode {
  readonly settings: ClusterSettings;
  readonly sm: ClusterStateMachine;
  readonly driver: RaftDriver;
  private readonly log: LogSink;
  private readonly opts: ClusterNodeOptions;
  readonly membership: MembershipController;
  readonly breakers: BreakerController;
  readonly health: HealthController;
  private leading = false;
  /** Bumped on every leadership change: a stale takeover never starts controllers. */
  private epoch = 0;
  private leaderless: number | null = performance.now();
  private outcomeTimer: NodeJS.Timeout | undefined;
  private memberTimer: NodeJS.Timeout | undefined;
  private joinTimer: NodeJS.Timeout | undefined;
  private refreshQueued = false;
  /** The Kubernetes client import, once a committed state named a Kubernetes pool. */
  private kubePreload: Promise<void> | undefined;
  private stopped = false;
  /** Why the Raft driver stopped on its own (a fatal storage error), or null while it runs. */
  private driverStoppedBy: string | null = null;
  /** The applied index last seen behind the commit index, and since when (see applyStall). */
  private applyBehind: { applied: number; since: number } | null = null;
  /** With degraded "apply_stalled": what this node waits on (shown as degradedCause). */
  private stallCause: string | null = null;
  /** APPLY_STALL_MS, or a test's shorter bound. */
  private readonly applyStallMs: number;
  /** True when it stopped at a committed entry of a later version (degraded "upgrade_required"). */
  private upgradeRequired = false;
  readonly panics = new Map<string, boolean>();
  /** Authenticated peer id -> when a rejection from it was last logged. */
  private readonly rejectLoggedAt = new Map<string, number>();
  readonly counters = {
    batchesSent: 0,
    batchesDropped: 0,
    batchesReceived: 0,
    appMessagesRejected: 0,
  };

  constructor(opts: ClusterNodeOptions) {
    this.opts = opts;
    this.settings = opts.settings;
    this.applyStallMs = opts.applyStallMs ?? APPLY_STALL_MS;
    this.log = opts.logger;
    const s = opts.settings;
    this.sm = new ClusterStateMachine(
      {
        onApply: (change, before, after) => this.applied(change, before, after),
        onRestore: (after) => this.applied(null, after, after),
      },
      opts.level,
    );
    this.driver = new RaftDriver({
      id: s.id,
      dataDir: s.dataDir,
      secret: s.secret,
      peers: s.peers,
      listen: s.listen ?? undefined,
      // Peers named by hostnames resolve through the bounded lookup (test/outside/dns-raft-peers.test.ts).
      transport: {
        inbound: s.listen !== null,
        ...peerDialOptions(this.log, (op, code) => opts.onLocalShortage?.(op, code)),
      },
      // Only an explicit "new" founds a cluster from an empty data directory; otherwise an
      // empty directory (a first start as a joiner, or a voter that lost its disk) joins.
      bootstrap: s.bootstrap === "new" && s.voters.includes(s.id) ? s.voters : undefined,
      stateMachine: this.sm,
      heartbeatMs: s.heartbeatMs,
      electionMs: s.electionMs,
      fsync: !s.ephemeral,
      onWarning: (m) => this.log.warn({ component: "raft" }, m),
      ...(opts.level === undefined ? {} : { level: opts.level }),
      ...(opts.storageFs === undefined ? {} : { storage: { fs: opts.storageFs } }),
    });
    const getState = () => this.sm.current;
    const propose = (cmd: CommandInput) => this.propose(cmd).then(() => undefined);
    const panic = (pool: string, st: { panic: boolean }) => {
      // A pool that left the committed state keeps no panic series (its watcher's last word is "false").
      if (st.panic || Object.hasOwn(this.sm.current.pools, pool)) this.panics.set(pool, st.panic);
      else this.panics.delete(pool);
      opts.onPanic?.(pool, st.panic);
    };
    this.membership = new MembershipController({
      getState,
      propose,
      agent: opts.agent,
      debounceMs: opts.discoveryDebounceMs,
      logger: this.log,
      onPanic: panic,
      // The Consul agent's and the API server's names resolve as upstream names do: a DNS
      // server that hangs holds no libuv thread (test/outside/dns-dependencies.test.ts).
      lookup: upstreamLookup.lookup as LookupFunction,
      onWatcherError: (pool, source) => discoveryErrors.count(pool, source),
      onWatcherResync: (pool, source, reason) => discoveryErrors.resync(pool, source, reason),
    });
    // Breaker transitions are rare and operators (and tests) read them next to the state they
    // cause: write them out at once instead of with the next buffered batch.
    const flush = opts.flushLogs;
    this.breakers = new BreakerController({
      getState,
      propose,
      logger: this.log,
      onTransition: flush === undefined ? undefined : () => setImmediate(flush),
    });
    // Static members' active checks keep the single-instance behaviour they always had: a
    // member that fails its checks is out even if that empties the pool (readyz then says so).
    // The healthy-panic guard is for Consul membership, where a mass deregistration or an
    // agent hiccup is the likelier cause.
    this.health = new HealthController({
      getState,
      propose,
      logger: this.log,
      onPanic: panic,
      panicThreshold: 0,
      // Hostname members' probes resolve as their requests do (test/outside/dns-dependencies.test.ts).
      lookup: upstreamLookup.lookup as LookupFunction,
      onLocalShortage: (code) => opts.onLocalShortage?.("health_check", code),
    });
  }

  get state(): ClusterStateData {
    return this.sm.current;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Opens storage, replays the log, joins the cluster. Does not wait for a leader. */
  async start(): Promise<void> {
    const d = this.driver;
    d.on("roleChange", () => this.onLeadership());
    d.on("leaderChange", (leader: string) => {
      this.leaderless = leader === "" ? performance.now() : null;
      this.onLeadership();
    });
    d.on("appMessage", (from: string, body: Buffer) => this.onAppMessage(from, body));
    d.on("fatal", (err: Error) => {
      this.driverStoppedBy ??= err.message;
      if (err instanceof DriverError && err.code === "UPGRADE_REQUIRED") {
        this.upgradeRequired = true;
        this.log.error(
          { node: this.settings.id, err: err.message, featureLevel: d.level, clusterLevel: d.clusterLevel },
          "raft stopped applying: the log holds an entry of a later version; upgrade this instance (it keeps routing on the state it applied before it)",
        );
        return;
      }
      this.log.error({ err: err.message }, "raft stopped on a fatal error");
    });
    d.on("clusterLevel", (level: number) => {
      this.log.info({ node: this.settings.id, clusterLevel: level }, "cluster level committed");
      this.opts.onClusterLevel?.(level);
    });
    d.on("clusterId", (clusterId: string) =>
      this.log.info(
        { node: this.settings.id, clusterId },
        "cluster id fixed: this data directory now belongs to this cluster only (identity.json)",
      ),
    );
    // Every instance applies the replacement (the leader's core proposed it): each logs it, so
    // the trail survives a leader that lost leadership before applying its own proposal.
    d.on("memberReplaced", (member: string, incarnation: string, was: string) => {
      const fields = { member, incarnation, was: was || "(founder)", leader: this.leading };
      const msg = "member came back with a new data directory: re-admitting it as a learner";
      if (this.leading) this.log.warn(fields, msg);
      else this.log.info(fields, msg);
    });
    d.on("admitted", (incarnation: string) =>
      this.log.info(
        { node: this.settings.id, incarnation },
        "this data directory is admitted as a voter again",
      ),
    );
    await d.start();
    // A learner is never an admitted voter: the warning is for a voter's data directory only.
    if (!d.admitted && this.settings.voters.includes(this.settings.id)) {
      this.log.warn(
        { node: this.settings.id, incarnation: d.incarnation, bootstrap: this.settings.bootstrap },
        "this data directory is not an admitted voter (new, or a voter that lost its disk): it will not vote until the leader re-admits it",
      );
    }
    if (!this.inConf(this.settings.id)) this.armJoinTimeout();
    const every = this.opts.outcomeIntervalMs ?? 100;
    this.outcomeTimer = setInterval(() => this.shipOutcomes(), every);
    this.outcomeTimer.unref();
    if (Object.keys(this.settings.peers).length > 1) {
      // Fast enough that a voter which lost its disk is back within a few seconds.
      this.memberTimer = setInterval(() => this.tendMembership(), 250);
      this.memberTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // A takeover still waiting on its read barrier must not start controllers after this stop.
    this.epoch++;
    clearInterval(this.outcomeTimer);
    clearInterval(this.memberTimer);
    clearTimeout(this.joinTimer);
    await this.handOff();
    this.stopControllers();
    await this.membership.stop().catch(() => undefined);
    await this.driver.stop();
    if (this.settings.ephemeral) rmSync(this.settings.dataDir, { recursive: true, force: true });
  }

  /** A leader that shuts down hands leadership to a caught-up voter first (no election gap). */
  private async handOff(): Promise<void> {
    try {
      const s = this.driver.status();
      if (s.role !== "leader") return;
      const next = s.voters
        .filter((v) => v !== s.id && s.peers[v]?.connected)
        .sort((x, y) => (s.peers[y]?.match ?? 0) - (s.peers[x]?.match ?? 0))[0];
      if (next === undefined) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.driver.transferLeadership(next),
        new Promise<void>((r) => {
          timer = setTimeout(r, Math.min(2 * this.settings.electionMs, 3_000));
        }),
      ]).finally(() => clearTimeout(timer));
      this.log.info({ to: next }, "leadership handed off before shutdown");
    } catch (err) {
      this.log.debug({ err: errorText(err) }, "leadership hand-off skipped");
    }
  }

  // ------------------------------------------------------------------ proposals

  /**
   * Validates `cmd`, replicates it (a follower's driver forwards it to the leader) and
   * resolves with its index once it is applied here. Rejects with the validation error, a
   * DriverError, or CommandRejected when the state machine refused it.
   */
  async propose(cmd: CommandInput): Promise<number> {
    if (this.upgradeRequired)
      throw this.refused("upgrade_required", new DriverError("UPGRADE_REQUIRED", this.driverStoppedBy ?? ""));
    const bytes = encodeCommand(cmd);
    const v = validateCommandOnce(bytes);
    if (!v.ok) throw this.refused("invalid", new CommandRejected("invalid_command", v.error));
    let index: number;
    try {
      // A command the fleet's committed level lacks would be skipped or stop older instances.
      this.driver.requireLevel(COMMAND_LEVEL[cmd.type], cmd.type);
      index = await this.driver.propose(bytes);
    } catch (err) {
      throw this.refused(err instanceof DriverError ? err.code.toLowerCase() : "error", err);
    }
    const why = this.sm.rejectionAt(index);
    if (why !== undefined) throw this.refused("rejected", new CommandRejected(why.code, why.message));
    return index;
  }

  /** Whether the committed cluster level has command `type` (every member understands it). */
  levelHas(type: CommandType): boolean {
    return this.driver.clusterLevel >= COMMAND_LEVEL[type];
  }

  /** Proposals refused, by reason (for shardgate_raft_proposals_refused_total). */
  readonly proposalsRefused: Record<string, number> = {};

  private refused(reason: string, err: unknown): unknown {
    this.proposalsRefused[reason] = (this.proposalsRefused[reason] ?? 0) + 1;
    return err;
  }

  /**
   * propose, retried while no leader is known or leadership moves, until `deadlineMs`; one not
   * sent to the leader (NOT_SENT) is retried once.
   */
  async proposeWithRetry(cmd: CommandInput, deadlineMs = 5_000): Promise<number> {
    const end = performance.now() + deadlineMs;
    let notSentRetried = false;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.propose(cmd);
      } catch (err) {
        const code = err instanceof DriverError ? err.code : "";
        if (code === "NOT_SENT" && !notSentRetried && !this.stopped) {
          notSentRetried = true;
          await new Promise((r) => setTimeout(r, NOT_SENT_RETRY_MS));
          continue;
        }
        if (!RETRYABLE.has(code) || performance.now() + 50 > end || this.stopped) throw err;
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 400)));
      }
    }
  }

  /**
   * An operator override of a breaker. On the leader it goes through the breaker controller
   * (which then keeps it); a follower proposes the pinned state itself, and the leader's
   * controller adopts the committed state on its next refresh.
   */
  async overrideBreaker(pool: string, member: string, mode: BreakerOverride): Promise<void> {
    if (this.leading && this.breakers.isRunning) {
      await this.breakers.force(pool, member, mode);
      return;
    }
    const since = Date.now();
    const cmd: CommandInput =
      mode === "open"
        ? {
            v: 1,
            type: "SetBreaker",
            pool,
            member,
            state: "open",
            since,
            until: FORCED_OPEN_UNTIL,
            trips: 0,
            override: "open",
          }
        : {
            v: 1,
            type: "SetBreaker",
            pool,
            member,
            state: "closed",
            since,
            until: 0,
            trips: 0,
            override: mode,
          };
    await this.proposeWithRetry(cmd);
  }

  // ------------------------------------------------------------------ applied entries

  private applied(change: StateChange | null, before: ClusterStateData, after: ClusterStateData): void {
    this.opts.outcomes.sync(after);
    for (const pool of this.panics.keys()) if (!Object.hasOwn(after.pools, pool)) this.panics.delete(pool);
    discoveryErrors.retainPools(after.pools);
    try {
      this.opts.onApplied(change, before, after);
    } catch (err) {
      this.log.error({ err: errorText(err) }, "applying a committed change failed");
    }
    const touched =
      change === null ||
      change.poolsChanged.length > 0 ||
      change.addedPools.length > 0 ||
      change.removedPools.length > 0;
    // Every instance, not only the leader: a follower may lead next, and the leader's watch
    // must not be the first to import the client (health/kubernetes-client.ts).
    const preload = touched ? this.preloadKubernetes(after, change?.index) : undefined;
    if (touched && this.leading && !this.refreshQueued) {
      this.refreshQueued = true;
      // Not from inside the driver's apply loop: a refresh may propose.
      setImmediate(async () => {
        if (preload !== undefined) await preload;
        this.refreshQueued = false;
        if (!this.leading) return;
        this.membership.refresh();
        this.breakers.refresh();
        this.health.refresh();
      });
    }
  }

  // ------------------------------------------------------------------ leadership

  private onLeadership(): void {
    if (this.stopped) return;
    let role: string;
    try {
      role = this.driver.status().role;
    } catch {
      return;
    }
    const leader = role === "leader";
    if (leader === this.leading) return;
    this.leading = leader;
    this.epoch++;
    if (!leader) {
      this.log.info({ node: this.settings.id }, "leadership lost: controllers stopped");
      this.stopControllers();
      return;
    }
    void this.takeOver(this.epoch);
  }

  private async takeOver(epoch: number): Promise<void> {
    try {
      // Everything committed before this term is applied here once the barrier resolves.
      await this.driver.read();
      if (epoch !== this.epoch) return;
      if (this.sm.current.routing === null) {
        this.log.info({ node: this.settings.id }, "empty cluster state: seeding it with this file's routing");
        await this.propose({ v: 1, type: "SetRouting", routing: this.opts.fileRouting() });
        if (epoch !== this.epoch) return;
      }
      await this.preloadKubernetes(this.sm.current, undefined);
      if (epoch !== this.epoch) return;
      this.membership.start();
      this.breakers.start();
      this.health.start();
      this.log.info(
        { node: this.settings.id, ringVersion: this.sm.current.ringVersion },
        "leader: controllers started",
      );
      this.tendMembership();
    } catch (err) {
      if (epoch !== this.epoch || this.stopped) return;
      // Blocked at a later version's entry (logged once by the fatal handler): nothing is applied
      // again in this process, so a retry would only log forever.
      if (this.upgradeRequired) return;
      // A stopped driver never comes back in this process: retrying would only log forever.
      if (err instanceof DriverError && (err.code === "STOPPED" || err.code === "FATAL")) {
        this.driverStoppedBy ??= err.message;
        this.log.error(
          { node: this.settings.id, err: errorText(err), cause: this.driverStoppedBy },
          "leader takeover abandoned: the Raft driver stopped; restart this instance once its data directory is writable",
        );
        return;
      }
      this.log.warn({ err: errorText(err) }, "leader takeover failed; retrying");
      setTimeout(() => {
        if (epoch === this.epoch && this.leading) void this.takeOver(epoch);
      }, 200).unref();
    }
  }

  /**
   * Imports the Kubernetes client if `state` names a Kubernetes pool and it is not loaded yet
   * (undefined when there is nothing to wait for). Never rejects.
   */
  private preloadKubernetes(state: ClusterStateData, index: number | undefined): Promise<void> | undefined {
    if (!stateUsesKubernetes(state.pools)) return undefined;
    this.kubePreload ??= preloadKubernetesClient(this.log, { node: this.settings.id, index });
    return this.kubePreload;
  }

  private stopControllers(): void {
    this.breakers.stop();
    this.health.stop();
    void this.membership.stop().catch(() => undefined);
    for (const pool of this.panics.keys()) this.opts.onPanic?.(pool, false);
    this.panics.clear();
  }

  // ------------------------------------------------------------------ outcomes and app messages

  private shipOutcomes(): void {
    const batch = this.opts.outcomes.drain();
    if (batch.entries.length === 0) return;
    if (this.leading) {
      this.breakers.ingest(batch, this.settings.id);
      return;
    }
    let leader = "";
    try {
      leader = this.driver.status().leader;
    } catch {
      return;
    }
    if (leader === "" || leader === this.settings.id) {
      this.counters.batchesDropped++;
      return;
    }
    try {
      if (this.driver.sendAppMessage(leader, encodeOutcomes(batch))) this.counters.batchesSent++;
      else this.counters.batchesDropped++;
    } catch (err) {
      this.counters.batchesDropped++;
      this.log.debug({ err: errorText(err) }, "outcome batch not sent");
    }
  }

  private reject(from: string, reason: string): void {
    this.counters.appMessagesRejected++;
    // At most one line per peer per second: a peer on another message version (a rolling
    // upgrade) sends a batch every 100 ms. Every rejection is still counted in the metric.
    const now = performance.now();
    const last = this.rejectLoggedAt.get(from);
    if (last !== undefined && now - last < 1_000) return;
    // Any secret holder may name itself anything: keep the map bounded.
    if (this.rejectLoggedAt.size >= 1_024) this.rejectLoggedAt.clear();
    this.rejectLoggedAt.set(from, now);
    this.log.warn({ from, reason }, "application message rejected");
  }

  /** Total application messages rejected (malformed, forged identity, wrong role). */
  appMessagesRejected(): number {
    return this.driver.counters.appMessagesRejected + this.counters.appMessagesRejected;
  }

  private onAppMessage(from: string, body: Buffer): void {
    const r = decodeAppMessage(body);
    if (!r.ok) {
      this.reject(from, r.reason);
      return;
    }
    const m = r.message;
    if (m.kind === "outcomes") {
      // Only the leader decides; a batch sent to a former leader is dropped (the next goes right).
      if (!this.leading) return;
      this.counters.batchesReceived++;
      this.breakers.ingest(m.batch, from);
      return;
    }
    if (m.id !== from) {
      this.reject(from, `identity join for ${m.id} from ${from}`);
      return;
    }
    if (!this.leading) return;
    if (m.incarnation !== undefined && this.inConf(m.id)) void this.readmit(m.id, m.incarnation);
    else void this.addLearner(m.id, m.address, m.incarnation);
  }

  /**
   * Leader: member `id` asks to be admitted under data directory `incarnation`. When that is
   * not the incarnation the configuration names for it, `id` lost its disk: the Raft layer
   * replaces it (learner under the new incarnation, caught up, promoted back by the leader's
   * core). The core does this by itself when the member answers it; the join is the path of a
   * member the leader does not reach.
   */
  private async readmit(id: string, incarnation: string): Promise<void> {
    if (this.driver.incarnationOf(id) === incarnation) return;
    try {
      await this.driver.replaceIncarnation(id, incarnation);
    } catch (err) {
      this.log.info(
        { member: id, err: errorText(err) },
        "re-admission not done yet; retried on its next join",
      );
    }
  }

  /** A joiner that no member admits in time exits with the reason (wrong cluster, unreachable). */
  private armJoinTimeout(): void {
    const ms = this.settings.joinTimeoutMs;
    this.joinTimer = setTimeout(() => {
      if (this.stopped || this.inConf(this.settings.id)) return;
      const t = this.driver.transport.stats();
      const peers = Object.keys(this.settings.peers).filter((p) => p !== this.settings.id);
      const seen = peers
        .map((p) => `${p}: ${t.peers[p]?.connected ? "connected" : "unreachable"}`)
        .join(", ");
      const rejected = Object.entries(t.rejected)
        .filter(([, n]) => n > 0)
        .map(([r, n]) => `${r} ${n}`)
        .join(", ");
      const reason =
        `cluster: node "${this.settings.id}" could not join: no member admitted it within ${ms / 1000}s ` +
        `(peers ${seen || "none configured"}; rejected frames: ${rejected || "none"}). ` +
        "Check cluster.peers and that cluster.secret is the cluster's; to found a NEW cluster, start " +
        "each founding voter once with --bootstrap (cluster.bootstrap: new).";
      this.log.error({ node: this.settings.id }, reason);
      this.opts.onCannotJoin?.(reason);
    }, ms);
    this.joinTimer.unref();
  }

  private inConf(id: string): boolean {
    const s = this.driver.status();
    return s.voters.includes(id) || s.learners.includes(id);
  }

  private async addLearner(id: string, address: string, incarnation?: string): Promise<void> {
    try {
      if (this.inConf(id)) return;
      this.log.info({ learner: id, address, incarnation }, "adding learner");
      await this.driver.addLearner(id, address, incarnation);
    } catch (err) {
      this.log.warn({ learner: id, err: errorText(err) }, "adding learner failed");
    }
  }

  /** Leader: add configured non-voters. Non-member: ask the peers to add this node. */
  private tendMembership(): void {
    if (this.stopped) return;
    const s = this.settings;
    try {
      if (this.leading) {
        // One status per round, not one per configured learner (this runs every 250 ms, idle too).
        const st = this.driver.status();
        for (const id of s.learners) {
          if (!st.voters.includes(id) && !st.learners.includes(id)) void this.addLearner(id, s.peers[id]);
        }
        this.promoteCaughtUp(st);
        return;
      }
      // A member has nothing to ask, except a voter's new incarnation the leader has not
      // recorded yet (it lost its disk: it asks to be re-admitted).
      if (this.inConf(s.id)) {
        const readmit =
          !this.driver.admitted &&
          s.voters.includes(s.id) &&
          this.driver.incarnationOf(s.id) !== this.driver.raftIncarnation;
        if (!readmit) return;
      }
      const address = s.peers[s.id] ?? (s.listen === null ? "" : formatAddress(s.listen));
      if (address === "") return;
      const msg = encodeJoin(s.id, address, this.driver.raftIncarnation || undefined);
      for (const peer of Object.keys(s.peers)) if (peer !== s.id) this.driver.sendAppMessage(peer, msg);
    } catch (err) {
      this.log.debug({ err: errorText(err) }, "membership upkeep skipped");
    }
  }

  /**
   * Leader: configured voters that are learners (re-admitted after a disk loss) are promoted
   * back once caught up; the driver refuses (NOT_CAUGHT_UP) until then, retried every 250 ms.
   */
  private promoteCaughtUp(st: DriverStatus): void {
    for (const id of this.settings.voters) {
      if (!st.learners.includes(id)) continue;
      this.driver.promote(id).then(
        () => this.log.info({ member: id }, "caught-up learner promoted back to voter"),
        (err: unknown) => this.log.debug({ member: id, err: errorText(err) }, "not promoted yet"),
      );
    }
  }

  // ------------------------------------------------------------------ views

  raftView(): RaftView {
    const s = this.driver.status();
    return {
      id: s.id,
      // The core calls a learner a follower; say what it is.
      role: s.role === "follower" && s.learners.includes(s.id) ? "learner" : s.role,
      term: s.term,
      leader: s.leader,
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      voters: s.voters,
      learners: s.learners,
      incarnation: this.driver.incarnation,
      admitted: this.driver.admitted,
      clusterLevel: s.clusterLevel,
      level: s.level,
      clusterId: s.clusterId === "" ? null : s.clusterId,
      ...(s.role === "leader" ? { memberLevels: memberLevelsOf(s) } : {}),
    };
  }

  /** The error that stopped the Raft driver (ENOSPC, EROFS ...), or null: what /readyz and /admin/state show. */
  get raftStoppedCause(): string | null {
    return this.driverStoppedBy;
  }

  /** What /readyz and /admin/state show next to the degraded reason: the stopping error, or what a stalled apply waits on. */
  get degradedCause(): string | null {
    return this.driverStoppedBy ?? this.stallCause;
  }

  /**
   * Why this node has stopped applying committed entries, or null. Two signs, either of which
   * lasting APPLY_STALL_MS (applyStallMs) makes the node say so rather than serve an old ring version
   * silently: its Ready pass awaits one thing (a storage sync that never returns), or its
   * commit index is ahead of its applied index and the applied index does not move.
   */
  private applyStall(s: DriverStatus): string | null {
    const now = performance.now();
    const wait = this.driver.readyWait();
    if (wait !== null && wait.ms > this.applyStallMs)
      return `the Raft Ready pass has waited ${Math.round(wait.ms)} ms on ${wait.on}; commit ${s.commitIndex}, applied ${s.appliedIndex}`;
    if (s.commitIndex <= s.appliedIndex) {
      this.applyBehind = null;
      return null;
    }
    if (this.applyBehind === null || this.applyBehind.applied !== s.appliedIndex) {
      this.applyBehind = { applied: s.appliedIndex, since: now };
      return null;
    }
    const ms = now - this.applyBehind.since;
    if (ms <= this.applyStallMs) return null;
    return `applied index ${s.appliedIndex} has not moved for ${Math.round(ms)} ms behind commit ${s.commitIndex}`;
  }

  /**
   * Why this node cannot currently reach agreement, or null: no leader known for longer than
   * the election timeout, or this node is cut off from every peer by fault injection.
   */
  degradedReason(): string | null {
    let s: ReturnType<RaftDriver["status"]>;
    try {
      s = this.driver.status();
    } catch {
      return this.upgradeRequired ? "upgrade_required" : "raft_stopped";
    }
    if (this.driverStoppedBy !== null) return this.upgradeRequired ? "upgrade_required" : "raft_stopped";
    const stall = this.applyStall(s);
    // One line when it starts and one when it ends (readiness probes ask every few seconds).
    if (stall !== null && this.stallCause === null)
      this.log.warn({ node: this.settings.id, cause: stall }, "raft apply stalled");
    else if (stall === null && this.stallCause !== null)
      this.log.info({ node: this.settings.id, appliedIndex: s.appliedIndex }, "raft apply resumed");
    this.stallCause = stall;
    if (stall !== null) return "apply_stalled";
    if (s.leader === "") {
      const since = this.leaderless ?? performance.now();
      this.leaderless = since;
      if (performance.now() - since > this.settings.electionMs) return "no_quorum";
    } else this.leaderless = null;
    const peers = Object.keys(s.peers);
    if (peers.length > 0) {
      const t = this.driver.transport.stats();
      if (peers.every((p) => t.peers[p]?.cut === true)) return "cut_off";
    }
    return null;
  }

  /** Fault injection: drop traffic to and from `peer` (or every known peer). */
  cut(peer?: string): string[] {
    const peers = peer === undefined ? this.knownPeers() : [peer];
    for (const p of peers) this.driver.transport.cut(p);
    return this.driver.transport.cutPeers();
  }

  heal(peer?: string): string[] {
    const peers = peer === undefined ? this.driver.transport.cutPeers() : [peer];
    for (const p of peers) this.driver.transport.heal(p);
    return this.driver.transport.cutPeers();
  }

  private knownPeers(): string[] {
    const ids = new Set([...Object.keys(this.settings.peers), ...Object.keys(this.driver.peerAddresses())]);
    ids.delete(this.settings.id);
    return [...ids].sort();
  }

  /** The transport's drops and rejections per peer (empty before the transport exists). */
  transportPeers(): ReadonlyMap<string, PeerCounters> {
    try {
      return this.driver.transport.stats().byPeer;
    } catch {
      return new Map();
    }
  }

  transportRejected(): Record<string, number> {
    const out: Record<string, number> = {};
    let stats: ReturnType<RaftDriver["transport"]["stats"]>;
    try {
      stats = this.driver.transport.stats();
    } catch {
      return out;
    }
    for (const r of REJECT_REASONS) out[r] = stats.rejected[r];
    return out;
  }
}

/** Leader: each member's advertised feature level (null: not heard from this term). */
function memberLevelsOf(s: DriverStatus): Record<string, number | null> {
  const out: Record<string, number | null> = { [s.id]: s.level };
  for (const [id, p] of Object.entries(s.peers)) out[id] = p.level ?? null;
  return out;
}
