// Membership arithmetic shared by the core and the storages: applying a single-server change
// to a ConfState, validating one, and replaying the conf entries of a log.
import type { ConfChange, ConfState, Entry, HardState, NodeId, Snapshot } from "../types.js";
import { decodeConfChange } from "./codec.js";

/** The incarnation `conf` names for member `id` ("" for a founder or a non-member). */
export function incarnationIn(conf: ConfState, id: NodeId): string {
  return conf.incarnations?.[id] ?? "";
}

/** Whether `conf` lists `id` as a voter replaced under a new incarnation, to be promoted back. */
export function isRejoining(conf: ConfState, id: NodeId): boolean {
  return conf.rejoin?.includes(id) ?? false;
}

/** The incarnation a member has after `cc` (the named one, else the one it had). */
function incarnationAfter(conf: ConfState, cc: ConfChange): string {
  return cc.incarnation ? cc.incarnation : incarnationIn(conf, cc.node);
}

/** Why `cc` cannot be applied to `conf`, or "" if it can. */
export function confChangeProblem(conf: ConfState, cc: ConfChange): string {
  const isVoter = conf.voters.includes(cc.node);
  const isLearner = conf.learners.includes(cc.node);
  const replaces = (isVoter || isLearner) && incarnationAfter(conf, cc) !== incarnationIn(conf, cc.node);
  switch (cc.type) {
    case "addLearner":
      // A voter becomes a learner (demotion, as etcd's AddLearnerNode on a voter): used when a
      // voter lost its disk and must catch up before it counts toward a quorum again.
      if (isVoter && conf.voters.length === 1) return `cannot demote the last voter ${cc.node}`;
      if (isLearner && !replaces) return `${cc.node} is already a learner`;
      return "";
    case "addVoter":
      if (isVoter) return `${cc.node} is already a voter`;
      if (replaces)
        return `${cc.node} is a learner under incarnation "${incarnationIn(conf, cc.node)}", not "${cc.incarnation}"`;
      return "";
    case "removeNode":
      if (!isVoter && !isLearner) return `${cc.node} is not a member`;
      if (isVoter && conf.voters.length === 1) return `cannot remove the last voter ${cc.node}`;
      return "";
  }
}

/** The membership after `cc`. Invalid changes leave the membership unchanged. */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  if (confChangeProblem(conf, cc) !== "") return conf;
  const voters = conf.voters.filter((n) => n !== cc.node);
  const learners = conf.learners.filter((n) => n !== cc.node);
  const incarnations: Record<NodeId, string> = { ...conf.incarnations };
  let rejoin = (conf.rejoin ?? []).filter((n) => n !== cc.node);
  const inc = incarnationAfter(conf, cc);
  delete incarnations[cc.node];
  if (cc.type === "addVoter") voters.push(cc.node);
  else if (cc.type === "addLearner") {
    learners.push(cc.node);
    if (cc.rejoin || isRejoining(conf, cc.node)) rejoin.push(cc.node);
  }
  if (cc.type !== "removeNode" && inc !== "") incarnations[cc.node] = inc;
  voters.sort();
  learners.sort();
  rejoin = rejoin.sort();
  return withExtras({ voters, learners }, incarnations, rejoin);
}

/** `base` with the incarnation map and rejoin list, each left out when empty (older shape). */
export function withExtras(
  base: { voters: NodeId[]; learners: NodeId[] },
  incarnations: Readonly<Record<NodeId, string>> | undefined,
  rejoin: readonly NodeId[] | undefined,
): ConfState {
  const out: {
    voters: NodeId[];
    learners: NodeId[];
    incarnations?: Record<NodeId, string>;
    rejoin?: NodeId[];
  } = base;
  const incs: Record<NodeId, string> = {};
  let any = false;
  for (const id of Object.keys(incarnations ?? {}).sort()) {
    const v = (incarnations as Record<NodeId, string>)[id];
    if (v === "" || (!base.voters.includes(id) && !base.learners.includes(id))) continue;
    incs[id] = v;
    any = true;
  }
  if (any) out.incarnations = incs;
  const rj = (rejoin ?? []).filter((id) => base.learners.includes(id)).sort();
  if (rj.length > 0) out.rejoin = rj;
  return out;
}

/** Replays the conf entries among `entries` on top of `base`. Undecodable conf entries are skipped. */
export function confStateAfter(base: ConfState, entries: readonly Entry[]): ConfState {
  let conf = base;
  for (const e of entries) {
    if (e.type !== "conf") continue;
    try {
      conf = applyConfChange(conf, decodeConfChange(e.data));
    } catch {
      // A conf entry the leader could not decode is never accepted by propose; ignore forged ones.
    }
  }
  return conf;
}

export function sameConf(a: ConfState, b: ConfState): boolean {
  if (!sameList(a.voters, b.voters) || !sameList(a.learners, b.learners)) return false;
  if (!sameList(a.rejoin ?? [], b.rejoin ?? [])) return false;
  for (const id of [...a.voters, ...a.learners])
    if (incarnationIn(a, id) !== incarnationIn(b, id)) return false;
  return true;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Every node of a brand-new cluster starts from this same snapshot at index 1, term 1 holding
 * the initial membership (and empty state-machine data), so that the membership is part of the
 * replicated state: a node that joins later starts empty and receives it from the leader like
 * any other snapshot. (Keeping it only in local storage would leave joiners with no base config.)
 */
export function bootstrapSnapshot(conf: ConfState): Snapshot {
  return {
    meta: {
      index: 1,
      term: 1,
      conf: withExtras(
        { voters: [...conf.voters].sort(), learners: [...conf.learners].sort() },
        conf.incarnations,
        conf.rejoin,
      ),
    },
    data: new Uint8Array(0),
  };
}

/** The hard state that goes with bootstrapSnapshot. */
export const BOOTSTRAP_HARD_STATE: HardState = { term: 1, vote: "", commit: 1 };
