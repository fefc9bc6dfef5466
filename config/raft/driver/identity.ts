// This data directory's identity (issue 9): an incarnation id drawn when the directory is first
// used, and whether it founded the cluster. The Raft configuration names each member's
// incarnation ("" for a founder's: configurations written before incarnations existed name
// none), every message carries its sender's, and the core counts a member's votes and acks only
// when they match (config/raft/core/raft-node.ts). A node that restarts without its data gets a
// NEW incarnation: the leader replaces it (learner under the new one, caught up, promoted back)
// and it votes again once its configuration names its incarnation. `admitted` records the last
// admission the driver saw (status, and older versions' reading of this file).
// `cluster` is the cluster id this directory's state belongs to (driver/cluster-identity.ts),
// absent until the fleet fixed one; an empty log belongs to no cluster.
// Written atomically (temp file, fdatasync, rename, directory fsync) through the log store's file
// layer, as the hard-state guard is, so a crash at any instant leaves the previous file or the new
// one, never a torn one: a file that does not read back is damage, refused with the file named.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { nodeStorageFs, type StorageFs } from "../storage/storage-fs.js";
import { isClusterId } from "./cluster-identity.js";
import { DriverError } from "./errors.js";

export const IDENTITY_FILE = "identity.json";

export interface Identity {
  incarnation: string;
  admitted: boolean;
  /**
   * Founded the cluster (bootstrap), or held Raft state before incarnations were configuration:
   * it speaks as incarnation "" (what a configuration without incarnations names).
   */
  founder: boolean;
  /** The cluster id this directory's Raft state belongs to; absent until fixed. */
  cluster?: string;
}

function isIdentity(v: unknown): v is Identity {
  const o = v as Identity;
  return (
    typeof o === "object" &&
    o !== null &&
    typeof o.incarnation === "string" &&
    typeof o.admitted === "boolean" &&
    (o.founder === undefined || typeof o.founder === "boolean") &&
    (o.cluster === undefined || isClusterId(o.cluster))
  );
}

/** The incarnation this directory stamps on its Raft messages and configuration entries. */
export function raftIncarnation(id: Identity): string {
  return id.founder ? "" : id.incarnation;
}

/**
 * What this directory's own Raft configuration says of it, for a start that finds its log but no
 * identity.json (deleted by hand, or lost with part of the disk): `member` when the configuration
 * lists this node, `incarnation` the one it names for it ("" = a founder's).
 */
export interface Configured {
  member: boolean;
  incarnation: string;
}

/**
 * Reads the identity, creating it (not admitted unless the directory already holds state).
 * `configured` is read only when identity.json is missing and the directory holds state.
 * `onWarning` hears why an identity was redrawn or recovered.
 */
export function loadIdentity(
  dir: string,
  hasState: boolean,
  durable: boolean,
  fs: StorageFs = nodeStorageFs,
  configured?: () => Configured,
  onWarning?: (m: string) => void,
): Identity {
  const path = join(dir, IDENTITY_FILE);
  if (fs.readdir(dir).includes(IDENTITY_FILE)) {
    const text = fs.readFile(path).toString("utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw unreadable(path, `not JSON (${(err as Error).message}; ${text.length} bytes)`);
    }
    if (!isIdentity(parsed))
      throw unreadable(
        path,
        "not {incarnation: string, admitted: boolean, founder?: boolean, cluster?: 16 hex digits}",
      );
    if (!hasState) {
      // An empty log cannot be a founder's or an admitted voter's. A directory that had been a
      // member (it voted, or its fleet fixed a cluster id) lost its log: its incarnation is the
      // one the configuration names, so speaking under it would vote with no memory of its log
      // or its votes. It comes back as a new incarnation, which the leader replaces it with (as
      // etcd requires removing and re-adding a member whose disk was replaced). A file of a
      // start that crashed before the join or the bootstrap kept it: no cluster knows it yet.
      const wasMember = parsed.admitted || parsed.cluster !== undefined;
      const incarnation = wasMember ? randomBytes(8).toString("hex") : parsed.incarnation;
      const id: Identity = { incarnation, admitted: false, founder: false };
      if (wasMember) {
        onWarning?.(
          `${path}: names incarnation ${parsed.incarnation}${parsed.cluster ? ` of cluster ${parsed.cluster}` : ""} but the Raft log is empty (data lost): starting as new incarnation ${incarnation}, which the leader takes in as a learner and promotes once caught up`,
        );
        saveIdentity(dir, id, durable, fs);
      }
      return id;
    }
    // Written by the previous version (no `founder`): an admitted directory is one the cluster
    // knows under no incarnation in its configuration (the old record lived in the state).
    return { ...parsed, founder: parsed.founder ?? parsed.admitted };
  }
  let id: Identity = { incarnation: randomBytes(8).toString("hex"), admitted: hasState, founder: hasState };
  const conf = hasState ? configured?.() : undefined;
  if (conf?.member) {
    // identity.json lost under a log that survived: the log names this directory's incarnation
    // (the cluster id comes back from the log and the snapshot as the driver replays them).
    id =
      conf.incarnation === ""
        ? { ...id, founder: true }
        : { incarnation: conf.incarnation, admitted: true, founder: false };
    onWarning?.(
      `${path} was missing: recovered incarnation ${conf.incarnation === "" ? '"" (founder)' : conf.incarnation} from this directory's Raft configuration`,
    );
  }
  saveIdentity(dir, id, durable, fs);
  return id;
}

function unreadable(path: string, why: string): DriverError {
  return new DriverError(
    "IDENTITY_UNREADABLE",
    `${path}: ${why}; it is only ever replaced by a rename, so this is damage, not a torn write: refusing to start (restore it from a backup, or delete it: the cluster id is then read back from this directory's log and snapshot, the incarnation from its Raft configuration)`,
  );
}

/** Replaces identity.json atomically (blocking: the transport must not name an id not yet durable). */
export function saveIdentity(
  dir: string,
  id: Identity,
  durable: boolean,
  fs: StorageFs = nodeStorageFs,
): void {
  const tmp = join(dir, `${IDENTITY_FILE}.tmp`);
  const fd = fs.openWrite(tmp);
  try {
    fs.ftruncate(fd, 0);
    fs.write(fd, Buffer.from(`${JSON.stringify(id)}\n`), 0);
    fs.fdatasyncSync(fd, durable);
  } finally {
    fs.close(fd);
  }
  fs.rename(tmp, join(dir, IDENTITY_FILE));
  fs.fsyncDirSync(dir, durable);
}
