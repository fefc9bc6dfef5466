// Validation and canonical ordering of ring members, shared by every table builder so that
// all tables reject the same bad input with the same messages and index members the same way.

import { RingConfigError } from "./ring-error.js";
import type { RingMember } from "./types.js";

/**
 * Validates members and returns frozen copies sorted by id (UTF-16 code unit order, the
 * same on every instance), so input order never changes the table.
 *
 * `previous` (a canonical list, e.g. the ring this one updates) lends its frozen members to
 * equal ones: a reload of a 5,000-member pool kept making 5,000 copies that the previous
 * ring already held (garbage per reload). Input already in id order (as the cluster state
 * keeps members) is paired with it by a merge walk and not sorted again.
 */
export function canonicalMembers(
  members: readonly RingMember[],
  where: string,
  previous: readonly RingMember[] = [],
): readonly RingMember[] {
  if (!Array.isArray(members))
    throw new RingConfigError("RING_INVALID_MEMBER", `${where}: members must be an array`);
  // Sized once: pushing 5,000 members grew the array step by step (150 KiB per reload). Past
  // 65,536 entries V8 would make a presized array a dictionary: those grow as before.
  const out: RingMember[] = members.length <= 0x10000 ? new Array(members.length) : [];
  let inOrder = true;
  let p = 0;
  for (let i = 0; i < members.length; i++) {
    const m = members[i];
    if (m === null || typeof m !== "object") {
      throw new RingConfigError(
        "RING_INVALID_MEMBER",
        `${where}: members[${i}] must be an object {id, weight}`,
      );
    }
    if (typeof m.id !== "string" || m.id.length === 0) {
      throw new RingConfigError(
        "RING_INVALID_MEMBER",
        `${where}: members[${i}].id must be a non-empty string`,
      );
    }
    if (typeof m.weight !== "number" || !Number.isSafeInteger(m.weight) || m.weight < 1) {
      throw new RingConfigError(
        "RING_INVALID_MEMBER",
        `${where}: members[${i}] (id "${m.id}") weight must be an integer >= 1, got ${String(m.weight)}`,
      );
    }
    if (i > 0 && !(members[i - 1].id < m.id)) inOrder = false;
    let kept: RingMember | null = null;
    if (inOrder) {
      while (p < previous.length && previous[p].id < m.id) p++;
      const q = previous[p];
      if (q !== undefined && q.id === m.id && q.weight === m.weight) kept = q;
    }
    out[i] = kept ?? Object.freeze({ id: m.id, weight: m.weight });
  }
  if (!inOrder) out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < out.length; i++) {
    if (out[i].id === out[i - 1].id)
      throw new RingConfigError("RING_DUPLICATE_MEMBER", `${where}: duplicate member id "${out[i].id}"`);
  }
  return Object.freeze(out);
}
