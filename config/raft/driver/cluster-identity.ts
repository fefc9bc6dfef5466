// The cluster identity (etcd's cluster ID): which cluster a data directory's Raft state belongs
// to. It is fixed once per cluster, by the committed entry that first raises the fleet's level to
// LEVEL_CLUSTER_ID (core/feature-level.ts): every member applies that same entry, so each derives
// the same id from its position and the proposer's random session, and no two clusters (not two
// fleets started from one copied config, nor a cluster and its own re-bootstrap) draw the same
// one. Waiting for that level is what keeps a rolling upgrade working: by then every member runs
// a build that reads version-2 hellos, which name the id (transport/frames.ts). A founder's cluster
// fixes it a few heartbeats after its first leader heard every member; a data directory of the
// previous version adopts it when its fleet finishes the upgrade. Joiners learn it from the log
// or from a snapshot ("@cluster"). It is kept in identity.json (driver/identity.ts) so a start
// can check the data directory against its own snapshot, and carried by every handshake.
import { createHash } from "node:crypto";

/** The id fixed by the committed level entry at (`index`, `term`) proposed under this session. */
export function deriveClusterId(
  index: number,
  term: number,
  sessionHi: number,
  sessionLo: number,
  seq: number,
): string {
  return createHash("sha256")
    .update(`shardgate-cluster-id\u0000${index}\u0000${term}\u0000${sessionHi}\u0000${sessionLo}\u0000${seq}`)
    .digest("hex")
    .slice(0, 16);
}

/** Whether `s` reads as a cluster id (what deriveClusterId returns). */
export function isClusterId(s: unknown): s is string {
  return typeof s === "string" && /^[0-9a-f]{16}$/.test(s);
}

/** The text every refusal of another cluster's data directory or traffic carries. */
export function clusterMismatch(what: string, theirs: string, ours: string): string {
  return `cluster ID mismatch: ${what} belongs to cluster ${theirs}, this node to cluster ${ours}`;
}
