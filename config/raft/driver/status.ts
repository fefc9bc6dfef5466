// status(): one view of the core's state, the driver's apply progress and the transport's
// connections, for operators and for the application's health reporting.
import type { ProgressState, RaftNode, Role } from "../core/index.js";
import type { TcpTransport } from "../transport/index.js";
import type { NodeId } from "../types.js";

export interface PeerStatus {
  address: string;
  connected: boolean;
  /** Leader only: highest index known replicated on the peer. */
  match?: number;
  next?: number;
  /**
   * Leader only: how it replicates to the peer: "replicate" (pipelining), "probe" (one append
   * at a time: the peer lagged, rejected, or its link is down) or "snapshot" (one in flight).
   */
  state?: ProgressState;
  /** Payloads (and their bytes) the transport holds for the peer. */
  queued: number;
  queuedBytes: number;
  /** Leader only: the feature level the peer advertised this term (absent: not heard yet). */
  level?: number;
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
  /** The feature level this node advertises, and the committed cluster level (feature-level.ts). */
  level: number;
  clusterLevel: number;
  /** Leader only: the level the fleet would commit now (undefined while a member is unheard). */
  fleetLevel?: number;
  /** The cluster id (driver/cluster-identity.ts); "" until the fleet fixed one. */
  clusterId: string;
}

export function buildStatus(
  self: NodeId,
  node: RaftNode,
  transport: TcpTransport,
  addressOf: (id: NodeId) => string | undefined,
  appliedIndex: number,
  snapshotIndex: number,
  clusterLevel: number,
): DriverStatus {
  const s = node.status();
  const t = transport.stats();
  const peers: Record<NodeId, PeerStatus> = {};
  for (const id of [...s.conf.voters, ...s.conf.learners]) {
    if (id === self) continue;
    const pr = s.progress.get(id);
    const link = t.peers[id];
    const ps: PeerStatus = {
      address: addressOf(id) ?? "",
      connected: link?.connected ?? false,
      queued: link?.queued ?? 0,
      queuedBytes: link?.queuedBytes ?? 0,
    };
    if (pr) {
      ps.match = pr.match;
      ps.next = pr.next;
      ps.state = pr.state;
    }
    const level = node.memberLevel(id);
    if (level !== undefined) ps.level = level;
    peers[id] = ps;
  }
  return {
    id: self,
    role: s.role,
    term: s.term,
    leader: s.lead,
    commitIndex: s.commit,
    appliedIndex,
    firstIndex: s.firstIndex,
    lastIndex: s.lastIndex,
    snapshotIndex,
    voters: s.conf.voters,
    learners: s.conf.learners,
    peers,
    level: s.level,
    clusterLevel,
    fleetLevel: node.fleetLevel(),
    clusterId: transport.clusterId,
  };
}
