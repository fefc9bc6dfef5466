// A content digest of a committed routing, cheap to keep up to date when a few members of a
// big pool change. A PatchRouting command names the digest of the routing it was computed
// against, and apply refuses it on any other routing: a patch is only ever applied to the
// exact routing its proposer diffed, so it always lands on what a full SetRouting of the
// same file would (see routing-patch.ts).
//
// Content only (canonical JSON, no identity, no Raft index), so every replica computes the
// same digest whether it applied the log or restored a snapshot. A pool's member list is
// digested as the sum of hashes of its adjacent pairs (start, m0), (m0, m1) ... (mLast, end):
// the pairs fix the order, and a splice changes only the pairs around it, so the digest of
// a patched list is the old one minus the pairs the splice broke plus the ones it made,
// without a pass over the 5,000 members that stayed. A list this process has not digested
// yet (after a full SetRouting or a restore) is digested in full once, then cached by
// identity (committed lists are frozen).
//
// Not cryptographic: log entries come from authenticated peers, and a digest collision
// between a proposer's base and a different committed routing only matters in a race with
// another reload, where it would merge instead of refusing.

import { canonicalJson } from "./canonical-json.js";

/** 64 bits as two 32-bit lanes, summed lane-wise modulo 2^32. */
interface Sum {
  lo: number;
  hi: number;
  n: number;
}

const START = "^";
const END = "$";

/** Two independent 32-bit string hashes (FNV-1a style with a final avalanche per lane). */
function hashInto(s: string, out: { a: number; b: number }): void {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  b ^= b >>> 16;
  b = Math.imul(b, 0xc2b2ae35);
  b ^= b >>> 13;
  out.a = a >>> 0;
  out.b = b >>> 0;
}

const scratch = { a: 0, b: 0 };

function addPair(sum: Sum, left: string, right: string, sign: 1 | -1): void {
  hashInto(`${left}\u0000${right}`, scratch);
  sum.lo = (sum.lo + sign * scratch.a) >>> 0;
  sum.hi = (sum.hi + sign * scratch.b) >>> 0;
}

function text(sum: Sum): string {
  return `${sum.n}.${sum.lo.toString(16)}.${sum.hi.toString(16)}`;
}

function parse(digest: string): Sum {
  const [n, lo, hi] = digest.split(".");
  return { n: Number(n), lo: Number.parseInt(lo, 16), hi: Number.parseInt(hi, 16) };
}

const listDigests = new WeakMap<readonly unknown[], string>();

/** The digest of a member list (order matters), cached by the list's identity. */
export function membersDigest(members: readonly unknown[]): string {
  const known = listDigests.get(members);
  if (known !== undefined) return known;
  const sum: Sum = { lo: 0, hi: 0, n: members.length };
  let left = START;
  for (let i = 0; i < members.length; i++) {
    const key = canonicalJson(members[i]);
    addPair(sum, left, key, 1);
    left = key;
  }
  addPair(sum, left, END, 1);
  const d = text(sum);
  if (Object.isFrozen(members)) listDigests.set(members, d);
  return d;
}

/**
 * The digest of `list` after replacing `remove` members at `at` with `add`, from the digest
 * of `list` itself: O(remove + add), not O(list).
 */
export function splicedDigest(
  digest: string,
  list: readonly unknown[],
  at: number,
  remove: number,
  add: readonly unknown[],
): string {
  const sum = parse(digest);
  const before = at === 0 ? START : canonicalJson(list[at - 1]);
  const after = at + remove === list.length ? END : canonicalJson(list[at + remove]);
  let left = before;
  for (let i = at; i < at + remove; i++) {
    const key = canonicalJson(list[i]);
    addPair(sum, left, key, -1);
    left = key;
  }
  addPair(sum, left, after, -1);
  left = before;
  for (const m of add) {
    const key = canonicalJson(m);
    addPair(sum, left, key, 1);
    left = key;
  }
  addPair(sum, left, after, 1);
  sum.n = list.length - remove + add.length;
  return text(sum);
}

/**
 * Remembers `digest` for a list a patch made, so the next patch does not recompute it. The
 * list goes into the committed state, which freezes it and never changes it.
 */
export function rememberMembersDigest(members: readonly unknown[], digest: string): void {
  listDigests.set(members, digest);
}

interface RoutingLike {
  readonly pools: Readonly<Record<string, { readonly members: readonly unknown[] }>>;
  readonly routes: readonly unknown[];
}

/** The digest of a whole routing: routes, pool names, each pool's settings and members. */
export function routingDigest(routing: RoutingLike): string {
  const parts: string[] = [canonicalJson(routing.routes)];
  for (const name of Object.keys(routing.pools).sort()) {
    const pool = routing.pools[name];
    // The settings are small; the members are digested (and cached) apart.
    parts.push(
      JSON.stringify(name),
      canonicalJson({ ...pool, members: undefined }),
      membersDigest(pool.members),
    );
  }
  const sum: Sum = { lo: 0, hi: 0, n: parts.length };
  hashInto(parts.join("\u0001"), scratch);
  sum.lo = scratch.a;
  sum.hi = scratch.b;
  return text(sum);
}
