// The operations endpoints over this instance's cluster node: Raft membership with per-peer
// lag, leadership transfer, membership changes (leader only, answered once committed), a copy
// of the replicated state, the recent ring changes and the live member figures. Driver
// refusals become coded admin errors (not_leader names the leader to retry on).

import type {
  FleetInstanceView,
  LiveFilter,
  LiveView,
  MembershipView,
  OpsBackend,
  PeersView,
  RingChangeView,
  SnapshotView,
  TransferView,
} from "../admin/ops-types.js";
import type { SignalsView } from "../admin/signals.js";
import type { AdminError, AdminResult } from "../admin/types.js";
import type { ClusterNode } from "../cluster/cluster-node.js";
import { errorText } from "./errors.js";

interface DriverErrorLike {
  code?: string;
  leader?: string;
}

/** A driver refusal as an admin error with a stable code. */
export function membershipError(err: unknown): AdminError {
  const e = err as DriverErrorLike;
  const message = errorText(err);
  switch (e?.code) {
    case "NOT_LEADER":
      return {
        status: 409,
        error: "not_leader",
        message: `membership changes go to the leader${e.leader ? ` (${e.leader}); run this against its admin API` : ""}`,
        detail: { leader: e.leader ?? "" },
      };
    case "NO_LEADER":
      return { status: 503, error: "no_leader", message: "no leader is known now; retry" };
    case "BAD_ARGUMENT":
      return { status: 400, error: "bad_request", message };
    case "DROPPED":
      return { status: 409, error: "refused", message: `Raft refused the change: ${message}` };
    case "TIMEOUT":
      return { status: 504, error: "timeout", message: `not confirmed in time: ${message}` };
    default:
      return {
        status: 503,
        error: "not_committed",
        message: `the change could not be committed: ${message}`,
      };
  }
}

export interface OpsBackendDeps {
  node: ClusterNode;
  changes(): RingChangeView[];
  live(only?: LiveFilter): LiveView;
  fleet(): Promise<FleetInstanceView[]>;
  ring(pool: string, top?: number): AdminResult<unknown>;
  signals?(): Promise<SignalsView>;
}

export function createOpsBackend(d: OpsBackendDeps): OpsBackend {
  const { node } = d;
  const status = () => node.driver.status();
  /** The driver's status, or null once it stopped (shutdown): answered as a coded 503. */
  const statusOrNull = () => {
    try {
      return status();
    } catch {
      return null;
    }
  };
  const stopped: AdminResult<never> = {
    ok: false,
    err: { status: 503, error: "raft_stopped", message: "this node's Raft driver is not running" },
  };

  const membership = async (
    action: MembershipView["action"],
    id: string,
    run: () => Promise<number>,
  ): Promise<AdminResult<MembershipView>> => {
    try {
      const index = await run();
      const s = status();
      return { ok: true, value: { action, id, index, voters: s.voters, learners: s.learners } };
    } catch (err) {
      return { ok: false, err: membershipError(err) };
    }
  };
  const conflict = (error: string, message: string): AdminResult<never> => ({
    ok: false,
    err: { status: 409, error, message },
  });

  return {
    peers(): PeersView | undefined {
      let s: ReturnType<typeof status>;
      try {
        s = status();
      } catch {
        return undefined;
      }
      const view = node.raftView();
      const ids = [...s.voters, ...s.learners];
      return {
        id: s.id,
        role: view.role,
        term: s.term,
        leader: s.leader,
        commitIndex: s.commitIndex,
        appliedIndex: s.appliedIndex,
        lastIndex: s.lastIndex,
        clusterLevel: s.clusterLevel,
        clusterId: view.clusterId ?? null,
        peers: ids.map((id) => {
          const p = s.peers[id];
          const self = id === s.id;
          const out: PeersView["peers"][number] = {
            id,
            address: self ? (node.driver.peerAddresses()[id] ?? "") : (p?.address ?? ""),
            role: s.voters.includes(id) ? "voter" : "learner",
            self,
            connected: p?.connected ?? false,
          };
          const level = self ? s.level : p?.level;
          if (level !== undefined) out.level = level;
          if (p?.match !== undefined) {
            out.match = p.match;
            out.lag = Math.max(0, s.lastIndex - p.match);
          }
          if (p?.state !== undefined) out.state = p.state;
          return out;
        }),
      };
    },

    async transferLeader(id: string): Promise<AdminResult<TransferView>> {
      const s = statusOrNull();
      if (s === null) return stopped;
      // Which of the two it is decides what the operator does next.
      if (s.learners.includes(id))
        return conflict(
          "not_voter",
          `"${id}" is a learner, not a voter: promote it first (ctl peers promote ${id}), then transfer to it`,
        );
      if (!s.voters.includes(id))
        return conflict(
          "not_voter",
          `"${id}" is not a member of the cluster; transfer to one of the voters: ${[...s.voters].sort().join(", ")}`,
        );
      try {
        await node.driver.transferLeadership(id);
      } catch (err) {
        return { ok: false, err: membershipError(err) };
      }
      const after = statusOrNull();
      if (after === null) return stopped;
      return { ok: true, value: { leader: after.leader, term: after.term } };
    },

    addLearner(id: string, address: string) {
      const s = statusOrNull();
      if (s === null) return Promise.resolve(stopped);
      if (s.voters.includes(id) || s.learners.includes(id))
        return Promise.resolve(conflict("already_member", `"${id}" is already in the cluster`));
      return membership("add-learner", id, () => node.driver.addLearner(id, address));
    },

    promote(id: string) {
      const s = statusOrNull();
      if (s === null) return Promise.resolve(stopped);
      if (!s.learners.includes(id))
        return Promise.resolve(
          conflict("not_learner", `"${id}" is not a learner (learners: ${s.learners.join(", ") || "none"})`),
        );
      return membership("promote", id, () => node.driver.promote(id));
    },

    remove(id: string) {
      const s = statusOrNull();
      if (s === null) return Promise.resolve(stopped);
      if (!s.voters.includes(id) && !s.learners.includes(id))
        return Promise.resolve({
          ok: false,
          err: { status: 404, error: "unknown_peer", message: `"${id}" is not in the cluster` },
        });
      if (s.voters.length === 1 && s.voters[0] === id)
        return Promise.resolve(conflict("last_voter", "refusing to remove the last voter"));
      return membership("remove", id, () => node.driver.removeMember(id));
    },

    snapshot(): AdminResult<SnapshotView> {
      let term = 0;
      try {
        term = status().term;
      } catch {
        // stopped: the state copy is still meaningful
      }
      return {
        ok: true,
        value: {
          format: "shardgate.cluster-snapshot",
          takenAt: new Date().toISOString(),
          node: node.settings.id,
          term,
          state: node.state,
        },
      };
    },

    changes: () => d.changes(),
    live: (only) => d.live(only),
    fleet: () => d.fleet(),
    ring: (pool, top) => d.ring(pool, top),
    signals: d.signals,
  };
}
