// The usual Consul answer after the first: the same entries at the same positions, a few of
// them new objects (the answer cache hands back the previous object for every entry whose
// bytes did not change). parseHealthEntries + diffMembers would rebuild the id counts, the
// view and the diff over every instance (3,000 map insertions and lookups per wake-up, even
// when only a check's output moved); here only the changed positions are read, and the view
// is copied only when a member really changed. Anything else (another length, many changes,
// a changed id, an entry to skip) returns undefined and the full parse decides.

import {
  type DiscoveredMember,
  type EntryMemo,
  entryMember,
  type MemberDiff,
  sameMember,
  sameShape,
} from "./consul-members.js";

/** The last clean answer (no entry skipped, no id collision): its entries and their members in answer order. */
export interface AlignedAnswer {
  readonly entries: readonly unknown[];
  /** The view's member for each entry, at the entry's position. */
  readonly members: readonly DiscoveredMember[];
}

export interface AlignedResult {
  /** The new view (the previous Map itself when no member changed). */
  readonly view: ReadonlyMap<string, DiscoveredMember>;
  readonly diff: MemberDiff;
  readonly answer: AlignedAnswer;
}

/** More changed positions than this: the full parse (a mass change is rare and costs it anyway). */
const MAX_CHANGED = 64;

/** The answer's view and diff when it is `last` with a few entries changed in place, else undefined. */
export function parseAligned(
  body: unknown,
  last: AlignedAnswer | undefined,
  view: ReadonlyMap<string, DiscoveredMember>,
  warningIsHealthy: boolean,
  memo: EntryMemo,
): AlignedResult | undefined {
  if (last === undefined || !Array.isArray(body) || body.length !== last.entries.length) return undefined;
  const changed: number[] = [];
  for (let i = 0; i < body.length; i++) {
    if (body[i] === last.entries[i]) continue;
    if (changed.length === MAX_CHANGED) return undefined;
    changed.push(i);
  }
  if (changed.length === 0) return { view, diff: EMPTY_DIFF, answer: last };
  const next: { at: number; member: DiscoveredMember }[] = [];
  for (const i of changed) {
    const m = entryMember(body[i], warningIsHealthy, memo);
    const old = last.members[i];
    // Ids keep their positions, so the id counts (collisions) and the sort order stand.
    if ("skipped" in m || m.id !== old.id) return undefined;
    if (!sameMember(old, m)) next.push({ at: i, member: m });
  }
  const answer = { entries: body, members: last.members };
  if (next.length === 0) return { view, diff: EMPTY_DIFF, answer };
  // In id order, as diffMembers lists them (the answer's order need not be).
  next.sort((a, b) => (a.member.id < b.member.id ? -1 : a.member.id > b.member.id ? 1 : 0));
  const members = [...last.members];
  const nextView = new Map(view);
  const changedShape: { before: DiscoveredMember; after: DiscoveredMember }[] = [];
  const health: { member: DiscoveredMember; wasHealthy: boolean }[] = [];
  for (const { at, member } of next) {
    const before = members[at];
    members[at] = member;
    nextView.set(member.id, member);
    if (!sameShape(before, member)) changedShape.push({ before, after: member });
    if (before.healthy !== member.healthy) health.push({ member, wasHealthy: before.healthy });
  }
  return {
    view: nextView,
    diff: { added: [], removed: [], changed: changedShape, health },
    answer: { entries: body, members },
  };
}

/** The answer of a clean full parse, aligned: undefined when an entry was skipped or renamed. */
export function alignedAnswer(
  body: readonly unknown[],
  view: ReadonlyMap<string, DiscoveredMember>,
  warningIsHealthy: boolean,
  memo: EntryMemo,
): AlignedAnswer | undefined {
  if (body.length !== view.size) return undefined;
  const members: DiscoveredMember[] = new Array(body.length);
  for (let i = 0; i < body.length; i++) {
    const m = entryMember(body[i], warningIsHealthy, memo);
    const kept = "skipped" in m ? undefined : view.get(m.id);
    if (kept === undefined) return undefined;
    members[i] = kept;
  }
  return { entries: body, members };
}

const EMPTY_DIFF: MemberDiff = Object.freeze({ added: [], removed: [], changed: [], health: [] });
