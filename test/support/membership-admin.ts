// The admin API's membership endpoints (/admin/cluster/*) as the outside tries call them: a
// POST carrying the admin token and a JSON body, bounded so that a hung commit fails the test
// rather than stalling it, and the peers an instance lists other than itself.

import assert from "node:assert/strict";
import { fetchJson, type JsonResponse, type RunningShardgate } from "./shardgate-process.js";
import { scaled } from "./wait.js";

export interface Peer {
  id: string;
  address: string;
  self: boolean;
}

/** POST /admin/cluster/`action` with `body` as JSON (30 s at the most). */
export function postMembership(
  sg: RunningShardgate,
  token: string,
  action: string,
  body: unknown,
): Promise<JsonResponse> {
  return fetchJson(`${sg.adminUrl}/admin/cluster/${action}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(scaled(30_000)),
  });
}

/** The peers /admin/cluster/peers lists, but for the instance itself. */
export async function otherPeers(sg: RunningShardgate): Promise<Peer[]> {
  const r = await fetchJson(`${sg.adminUrl}/admin/cluster/peers`);
  assert.equal(r.status, 200, r.text);
  return (r.body as { peers: Peer[] }).peers.filter((p) => !p.self);
}
