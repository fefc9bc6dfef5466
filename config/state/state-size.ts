// The encoded size of a cluster state, i.e. the length of its snapshot, without encoding the
// whole state each time: a pool's and the routing's encoded length are kept per object (the
// state is immutable and an entry that leaves a pool alone keeps its object), so the size
// after a proposed command costs the encoding of what the command changes. Exact: canonical
// JSON of an object is its members' canonical JSON joined, so the parts add up.

import { canonicalJson } from "./canonical-json.js";
import { persistedForm, persistedPool } from "./snapshot.js";
import type { ClusterStateData, PoolState } from "./types.js";

const poolBytes = new WeakMap<PoolState, number>();
const routingBytes = new WeakMap<object, number>();

function bytesOf(value: unknown): number {
  return Buffer.byteLength(canonicalJson(value), "utf8");
}

function poolSize(pool: PoolState): number {
  let n = poolBytes.get(pool);
  if (n === undefined) {
    n = bytesOf(persistedPool(pool));
    poolBytes.set(pool, n);
  }
  return n;
}

/** The length in bytes of ClusterState.snapshot() for `data` (the same bytes' length). */
export function encodedStateBytes(data: ClusterStateData): number {
  // The rest of the state with no pools and no routing, then each part in place of its stub.
  let n = bytesOf(persistedForm({ ...data, pools: {}, routing: null })) - "{}".length - "null".length;
  if (data.routing === null) n += "null".length;
  else {
    let r = routingBytes.get(data.routing);
    if (r === undefined) {
      r = bytesOf(data.routing);
      routingBytes.set(data.routing, r);
    }
    n += r;
  }
  const names = Object.keys(data.pools);
  n += 2 + Math.max(0, names.length - 1);
  for (const name of names) n += bytesOf(name) + 1 + poolSize(data.pools[name]);
  return n;
}
