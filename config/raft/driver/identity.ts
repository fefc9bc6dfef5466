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
// Written atomically (temp file, fsync, rename, directory fsync).
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { isClusterId } from "./cluster-identity.js";

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

/** Reads the identity, creating it (not admitted unless the directory already holds state). */
export function loadIdentity(dir: string, hasState: boolean, durable: boolean): Identity {
  const path = join(dir, IDENTITY_FILE);
  if (fs.existsSync(path)) {
    const parsed = JSON.parse(fs.readFileSync(path, "utf8")) as unknown;
    if (!isIdentity(parsed))
      throw new Error(
        `${path}: not {incarnation: string, admitted: boolean, founder?: boolean, cluster?: 16 hex digits}`,
      );
    // An empty log cannot be a founder's or an admitted voter's (a crash between this file and
    // the bootstrap): it is a new incarnation.
    if (!hasState) return { incarnation: parsed.incarnation, admitted: false, founder: false };
    // Written by the previous version (no `founder`): an admitted directory is one the cluster
    // knows under no incarnation in its configuration (the old record lived in the state).
    return { ...parsed, founder: parsed.founder ?? parsed.admitted };
  }
  const id: Identity = { incarnation: randomBytes(8).toString("hex"), admitted: hasState, founder: hasState };
  saveIdentity(dir, id, durable);
  return id;
}

export function saveIdentity(dir: string, id: Identity, durable: boolean): void {
  const path = join(dir, IDENTITY_FILE);
  const tmp = `${path}.tmp`;
  const fd = fs.openSync(tmp, "w", 0o644);
  try {
    fs.writeSync(fd, `${JSON.stringify(id)}\n`);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
  if (durable) {
    const d = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  }
}
