// The data directories a node's configuration history retired, per member: a late message of a
// dead process (a disk lost, then replaced) must never be taken for the member's current
// directory nor for yet another new disk. What is retired is a function of the configurations
// the node applied, in order, so it is rebuilt at a start by replaying the log's configuration
// changes over what the snapshot holds (RetiredState, kept in the snapshot's meta), and is
// the same whichever node becomes leader, before or after a restart.
import type { ConfState, NodeId, RetiredState } from "../types.js";
import { incarnationIn } from "./conf.js";

/** Members that left whose retired incarnations are kept for a re-add. */
export const DEPARTED_MAX = 64;
/** Replaced incarnations kept per member: the newest. */
export const RETIRED_MAX = 16;

const isMember = (c: ConfState, id: NodeId) => c.voters.includes(id) || c.learners.includes(id);

export class RetiredDirs {
  /** Incarnations replaced per member; at most RETIRED_MAX each (the newest), never its current one. */
  private readonly retired = new Map<NodeId, Set<string>>();
  /**
   * What the members that left had retired, and their own last incarnation, for the
   * DEPARTED_MAX that left last: a re-add under the same id retires them as any other change of
   * a member's incarnation does. Bounded, so a long-lived cluster does not keep every member
   * that ever left.
   */
  private readonly departed = new Map<NodeId, { readonly retired: Set<string>; readonly last: string }>();
  /**
   * Members re-added naming no directory, and the directory each left on (trusted: the process
   * still there may answer). Once another directory is learned for the member, the trusted one
   * is retired with the one replaced. Only members.
   */
  private readonly trusted = new Map<NodeId, string>();

  /**
   * From a snapshot's RetiredState (none: nothing retired, as a snapshot of an older version).
   * Each set is cut to its newest RETIRED_MAX: a snapshot written before the re-add path was
   * bounded may hold more, and what is sent to a follower must pass its bound.
   */
  static from(state: RetiredState | undefined): RetiredDirs {
    const d = new RetiredDirs();
    if (state === undefined) return d;
    for (const [id, incs] of state.retired) d.retired.set(id, newest(incs));
    for (const [id, incs, last] of state.departed) d.departed.set(id, { retired: newest(incs), last });
    for (const [id, inc] of state.trusted) d.trusted.set(id, inc);
    return d;
  }

  state(): RetiredState {
    return {
      retired: [...this.retired].map(([id, s]) => [id, [...s]] as const),
      departed: [...this.departed].map(([id, g]) => [id, [...g.retired], g.last] as const),
      trusted: [...this.trusted],
    };
  }

  clone(): RetiredDirs {
    return RetiredDirs.from(this.state());
  }

  /** Whether `incarnation` was retired for member `id`. */
  has(id: NodeId, incarnation: string): boolean {
    return this.retired.get(id)?.has(incarnation) === true;
  }

  /** Retires `incarnation` for member `id` (a replacement the leader proposed). */
  add(id: NodeId, incarnation: string): void {
    const set = this.retired.get(id) ?? new Set<string>();
    set.add(incarnation);
    this.retired.set(id, set);
  }

  /**
   * Adds what `own`, a follower's list as of its committed index, retired that this one, the
   * list a leader sent with its snapshot of configuration `conf`, lacks. A fleet at level 8 from
   * its start holds the same list for the same history, but a leader caught up by a snapshot
   * while the fleet was below 8 lost what its history passed through, and would take it from
   * every follower it catches up. Kept only where this list keeps the member (a member of
   * `conf`, or departed here), never its current directory nor one it trusts or left on, and
   * as the oldest, so a full set stays this list's newest RETIRED_MAX.
   */
  keep(own: RetiredDirs, conf: ConfState): void {
    for (const id of [...conf.voters, ...conf.learners]) {
      const spare = own.spare(id, [incarnationIn(conf, id), this.trusted.get(id)]);
      const set = olderFirst(spare, this.retired.get(id));
      if (set.size > 0) this.retired.set(id, set);
    }
    for (const [id, gone] of this.departed) {
      const spare = own.spare(id, [gone.last]);
      if (spare.size > 0)
        this.departed.set(id, { retired: olderFirst(spare, gone.retired), last: gone.last });
    }
  }

  /** What this list retired for `id`, a member or departed, but the directories in `but`. */
  private spare(id: NodeId, but: readonly (string | undefined)[]): Set<string> {
    const set = new Set([...(this.retired.get(id) ?? []), ...(this.departed.get(id)?.retired ?? [])]);
    for (const inc of but) if (inc !== undefined) set.delete(inc);
    return set;
  }

  /** The members with something kept, for the leader's bookkeeping report. */
  ids(): { retired: NodeId[]; departed: NodeId[]; trusted: NodeId[] } {
    return {
      retired: [...this.retired.keys()],
      departed: [...this.departed.keys()],
      trusted: [...this.trusted.keys()],
    };
  }

  /**
   * The configuration went from `before` to `conf`: every incarnation the change took from a
   * member is retired, whichever change it was (a replacement, or a removal and a re-add under
   * the same id); a member that left keeps its retired set in `departed` instead, until it is
   * re-added or pushed out.
   */
  change(before: ConfState, conf: ConfState): void {
    for (const id of [...before.voters, ...before.learners]) {
      if (isMember(conf, id)) {
        const was = incarnationIn(before, id);
        const now = incarnationIn(conf, id);
        if (was === now) continue;
        const set = this.retired.get(id) ?? new Set<string>();
        set.add(was);
        const trusted = this.trusted.get(id);
        if (trusted !== undefined && trusted !== now) set.add(trusted);
        this.trusted.delete(id);
        set.delete(now);
        trim(set);
        this.retired.set(id, set);
        continue;
      }
      this.trusted.delete(id);
      const set = this.retired.get(id) ?? new Set<string>();
      this.retired.delete(id);
      this.departed.delete(id);
      this.departed.set(id, { retired: set, last: incarnationIn(before, id) });
      if (this.departed.size > DEPARTED_MAX)
        this.departed.delete(this.departed.keys().next().value as NodeId);
    }
    for (const id of [...conf.voters, ...conf.learners]) {
      if (isMember(before, id)) continue;
      const gone = this.departed.get(id);
      if (gone === undefined) continue;
      this.departed.delete(id);
      // Its directory when it left is retired only when the re-add names another: re-added
      // naming none (admin add-learner, a configured learner the leader adds), the process
      // still on it must be learned from its answers, not dropped.
      const now = incarnationIn(conf, id);
      const old = gone.retired;
      if (now !== "" && now !== gone.last) old.add(gone.last);
      // Trusted until another directory is learned for it (then retired, see trusted).
      if (now === "" && gone.last !== "") this.trusted.set(id, gone.last);
      old.delete(now);
      // Bounded as any other change: each removal and re-add on a new disk added one more.
      trim(old);
      if (old.size > 0) this.retired.set(id, old);
    }
  }
}

/** Drops the oldest incarnations of `set` past RETIRED_MAX (a Set iterates in insertion order). */
function trim(set: Set<string>): void {
  while (set.size > RETIRED_MAX) set.delete(set.values().next().value as string);
}

/** `set` with what `older` adds to it before it, trimmed: the older go first. */
function olderFirst(older: ReadonlySet<string>, set: ReadonlySet<string> | undefined): Set<string> {
  const out = new Set([...older].filter((inc) => set?.has(inc) !== true));
  for (const inc of set ?? []) out.add(inc);
  trim(out);
  return out;
}

function newest(incs: readonly string[]): Set<string> {
  const set = new Set(incs);
  trim(set);
  return set;
}

/**
 * Why `state`, a leader's retired list sent with its snapshot of configuration `conf`, cannot be
 * what that history retired, or "" if it can: a list naming a member the configuration does not
 * have (or a departed one it has), retiring a member's current directory, or past the bounds no
 * replay exceeds. A forged list would otherwise make a follower refuse a live member's
 * directory once it leads.
 */
export function retiredStateProblem(state: RetiredState, conf: ConfState): string {
  if (state.retired.length > conf.voters.length + conf.learners.length)
    return `${state.retired.length} members with retired directories, the configuration has ${conf.voters.length + conf.learners.length}`;
  if (state.departed.length > DEPARTED_MAX)
    return `${state.departed.length} departed members, at most ${DEPARTED_MAX} are kept`;
  const seen = new Set<string>();
  for (const [id, incs] of state.retired) {
    if (!isMember(conf, id)) return `retired directories of ${id}, which is not a member`;
    if (seen.has(id)) return `retired directories of ${id} listed twice`;
    seen.add(id);
    const why = incarnationsProblem(id, incs);
    if (why !== "") return why;
    if (incs.includes(incarnationIn(conf, id)))
      return `retires ${id}'s current directory "${incarnationIn(conf, id)}"`;
  }
  seen.clear();
  for (const [id, incs] of state.departed) {
    if (isMember(conf, id)) return `${id} listed as departed, but it is a member`;
    if (seen.has(id)) return `departed member ${id} listed twice`;
    seen.add(id);
    const why = incarnationsProblem(id, incs);
    if (why !== "") return why;
  }
  seen.clear();
  for (const [id, inc] of state.trusted) {
    if (!isMember(conf, id)) return `trusted directory of ${id}, which is not a member`;
    if (seen.has(id)) return `trusted directory of ${id} listed twice`;
    seen.add(id);
    if (inc === "" || inc === incarnationIn(conf, id))
      return `trusted directory "${inc}" of ${id} is empty or its current one`;
  }
  return "";
}

function incarnationsProblem(id: NodeId, incs: readonly string[]): string {
  if (incs.length > RETIRED_MAX)
    return `${incs.length} retired directories of ${id}, at most ${RETIRED_MAX} are kept`;
  if (new Set(incs).size !== incs.length) return `a retired directory of ${id} listed twice`;
  return "";
}
