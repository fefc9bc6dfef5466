// This data directory's identity: an incarnation id drawn when the directory is first used,
// and whether the cluster admitted this incarnation as a voter. A node that restarts without
// its data gets a NEW incarnation that is not admitted: it neither votes nor campaigns (its
// empty log must never help elect a stale candidate, and it may have forgotten a vote its
// previous incarnation gave) until the leader has recorded the new incarnation, caught it up
// as a learner and promoted it. Founders are admitted when they bootstrap; a directory that
// already held Raft state before incarnations existed is treated as admitted.
// Written atomically (temp file, fsync, rename, directory fsync).
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";

export const IDENTITY_FILE = "identity.json";

export interface Identity {
  incarnation: string;
  admitted: boolean;
}

function isIdentity(v: unknown): v is Identity {
  const o = v as Identity;
  return (
    typeof o === "object" &&
    o !== null &&
    typeof o.incarnation === "string" &&
    typeof o.admitted === "boolean"
  );
}

/**
 * Whether applying a configuration change admits incarnation `own` as a voter: the change makes
 * this node a voter from a learner or non-member (the leader promoted THIS data directory after
 * it caught up). A configuration that already listed it as a voter proves nothing (that may be a
 * previous incarnation, whose disk was lost); nor does a promotion while the replicated record
 * names another incarnation for this id. Shared by the driver and the simulator.
 */
export function admitsIncarnation(
  own: string,
  recorded: string | undefined,
  voterBefore: boolean,
  voterAfter: boolean,
): boolean {
  if (recorded !== undefined && recorded !== own) return false;
  return !voterBefore && voterAfter;
}

/**
 * Whether an installed snapshot admits incarnation `own`: its configuration lists this node as
 * a voter AND its replicated state records `own` for it. The leader records a new incarnation
 * only after demoting it (or before adding it as a learner), so a voter entry in a state that
 * already holds the record is a promotion that came after it: the one admitsIncarnation would
 * have seen, had the node applied that entry instead of receiving a snapshot past it.
 */
export function snapshotAdmits(own: string, recorded: string | undefined, voter: boolean): boolean {
  return recorded === own && voter;
}

/** Reads the identity, creating it (not admitted unless the directory already holds state). */
export function loadIdentity(dir: string, hasState: boolean, durable: boolean): Identity {
  const path = join(dir, IDENTITY_FILE);
  if (fs.existsSync(path)) {
    const parsed = JSON.parse(fs.readFileSync(path, "utf8")) as unknown;
    if (!isIdentity(parsed)) throw new Error(`${path}: not {incarnation: string, admitted: boolean}`);
    // An empty log cannot be an admitted voter (a crash between this file and the bootstrap).
    if (parsed.admitted && !hasState) return { incarnation: parsed.incarnation, admitted: false };
    return parsed;
  }
  const id: Identity = { incarnation: randomBytes(8).toString("hex"), admitted: hasState };
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
