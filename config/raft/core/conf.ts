// Membership arithmetic shared by the core and the storages: applying a single-server change
// to a ConfState, validating one, and replaying the conf entries of a log.
import type { ConfChange, ConfState, Entry, HardState, Snapshot } from "../types.js";
import { decodeConfChange } from "./codec.js";

/** Why `cc` cannot be applied to `conf`, or "" if it can. */
export function confChangeProblem(conf: ConfState, cc: ConfChange): string {
  const isVoter = conf.voters.includes(cc.node);
  const isLearner = conf.learners.includes(cc.node);
  switch (cc.type) {
    case "addLearner":
      // A voter becomes a learner (demotion, as etcd's AddLearnerNode on a voter): used when a
      // voter lost its disk and must catch up before it counts toward a quorum again.
      if (isVoter && conf.voters.length === 1) return `cannot demote the last voter ${cc.node}`;
      if (isLearner) return `${cc.node} is already a learner`;
      return "";
    case "addVoter":
      if (isVoter) return `${cc.node} is already a voter`;
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
  if (cc.type === "addVoter") voters.push(cc.node);
  else if (cc.type === "addLearner") learners.push(cc.node);
  voters.sort();
  learners.sort();
  return { voters, learners };
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
  return sameList(a.voters, b.voters) && sameList(a.learners, b.learners);
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
      conf: { voters: [...conf.voters].sort(), learners: [...conf.learners].sort() },
    },
    data: new Uint8Array(0),
  };
}

/** The hard state that goes with bootstrapSnapshot. */
export const BOOTSTRAP_HARD_STATE: HardState = { term: 1, vote: "", commit: 1 };
