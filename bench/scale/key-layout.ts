// Where the request rows' keys land: for a pool of N members written by processes.ts (member i
// on address i mod k), which members and which upstream addresses the bench's key set reaches,
// and how the keys split over those addresses. Computed with ring/ (the table and key hash
// the proxy uses) and checked against a running shardgate's /admin/route (checkLayout), so a
// row whose sizes differ in what the upstream side sees says so in the bench's output.

import { buildTable, hashKey } from "../../ring/index.js";
import { ADMIN_TOKEN, memberId } from "./processes.js";

export interface KeyLayout {
  readonly members: number;
  readonly keys: number;
  /** Distinct members that own at least one key. */
  readonly membersHit: number;
  /** Keys per upstream address, in address order (0 where none lands). */
  readonly keysPerAddress: readonly number[];
  /** Address index of each key's owner (key i is "k" + i, as runWrk sends it). */
  readonly addressOfKey: readonly number[];
  /** Member id owning each key. */
  readonly ownerOfKey: readonly string[];
}

/** The bench's key `i` as wrk sends it (processes.ts runWrk). */
export function benchKey(i: number): string {
  return `k${i}`;
}

/** The layout of `keys` bench keys over a ring pool of `members` members on `addresses` addresses. */
export function keyLayout(members: number, keys: number, addresses: number): KeyLayout {
  const table = buildTable({
    algorithm: "ring",
    members: Array.from({ length: members }, (_, i) => ({ id: memberId(i), weight: 1 })),
  });
  const hit = new Set<string>();
  const keysPerAddress = new Array<number>(addresses).fill(0);
  const addressOfKey: number[] = [];
  const ownerOfKey: string[] = [];
  for (let k = 0; k < keys; k++) {
    const id = table.members[table.lookup(hashKey(benchKey(k)))].id;
    const address = Number(id.slice(1)) % addresses;
    hit.add(id);
    keysPerAddress[address]++;
    addressOfKey.push(address);
    ownerOfKey.push(id);
  }
  return { members, keys, membersHit: hit.size, keysPerAddress, addressOfKey, ownerOfKey };
}

/** "30 members, 4 addresses (keys 4/8/7/11, busiest 37 %)". */
export function layoutText(l: KeyLayout): string {
  const used = l.keysPerAddress.filter((n) => n > 0).length;
  const busiest = Math.max(...l.keysPerAddress) / l.keys;
  return `${l.membersHit} members, ${used} of ${l.keysPerAddress.length} addresses (keys ${l.keysPerAddress.join("/")}, busiest ${(100 * busiest).toFixed(0)} %)`;
}

/**
 * Asks a running shardgate (pool "scale") for the owner of the first `sample` keys and throws
 * if one differs from `l`: the layout printed is then the proxy's, not a copy that drifted.
 */
export async function checkLayout(admin: string, l: KeyLayout, sample: number): Promise<void> {
  for (let k = 0; k < Math.min(sample, l.keys); k++) {
    const res = await fetch(`${admin}/admin/route?pool=scale&key=${benchKey(k)}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const id = ((await res.json()) as { member: string | null }).member;
    if (id !== l.ownerOfKey[k])
      throw new Error(
        `key layout: ${benchKey(k)} at ${l.members} members is ${l.ownerOfKey[k]} by ring/, ${String(id)} by /admin/route`,
      );
  }
}
