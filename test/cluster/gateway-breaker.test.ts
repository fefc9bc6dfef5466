// A member that answers 503 is a breaker failure even when retry.on gateway-error hides it
// from the client: every request still ends 200 (served by the next member), and the member's
// breaker opens on the discarded 503s alone. Real `shardgate start` process, real upstreams.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { randomKeys } from "../../ring/random.js";
import {
  eventually,
  fetchJson,
  poolConfig,
  type RunningShardgate,
  startShardgate,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const SEED = 5031;

interface StateBody {
  pools: Record<string, { members: Array<{ id: string; breaker: string }> }>;
}

let ups: EchoUpstream[] = [];
let sg: RunningShardgate;

before(async () => {
  ups = await startUpstreams(3, "g");
  sg = await startShardgate(
    poolConfig({
      members: ups.map((u) => ({ id: u.id, port: u.port })),
      accessLog: false,
      poolExtra: [
        "    retry: { attempts: 3, on: [connect-failure, gateway-error], minRetriesPerSecond: 100 }",
        "    breaker: { consecutiveFailures: 3, openFor: 30s, maxOpenFor: 30s }",
      ].join("\n"),
    }),
  );
});
after(async () => {
  await sg?.stop();
  await closeAll(ups);
});

async function breakers(): Promise<Record<string, string>> {
  const r = await fetchJson(`${sg.adminUrl}/admin/state`);
  assert.equal(r.status, 200, r.text);
  const out: Record<string, string> = {};
  for (const m of (r.body as StateBody).pools.users.members) out[m.id] = m.breaker;
  return out;
}

test("503s discarded by gateway-error retries trip the answering member's breaker", async () => {
  const failing = ups[0];
  const owned: string[] = [];
  for (const k of randomKeys(SEED, 200, 10)) {
    const r = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${encodeURIComponent(k)}`);
    if ((r.body as { owner: string }).owner === failing.id) owned.push(k);
    if (owned.length === 8) break;
  }
  assert.ok(owned.length >= 5, `seed ${SEED}: only ${owned.length} keys owned by ${failing.id}`);
  assert.deepEqual(await breakers(), { g1: "closed", g2: "closed", g3: "closed" });

  failing.mode = { kind: "status", status: 503 };
  for (const key of owned) {
    const r = await fetch(`${sg.httpUrl}/x`, { headers: { "x-user-id": key } });
    const body = (await r.json()) as { member?: string };
    assert.equal(r.status, 200, `seed ${SEED} key ${key}: the retry should have hidden the 503`);
    assert.notEqual(body.member, failing.id);
  }
  const seen = await eventually(
    `seed ${SEED}: ${failing.id}'s breaker to open`,
    async () => {
      const b = await breakers();
      return b[failing.id] === "open" ? b : undefined;
    },
    5_000,
  );
  assert.equal(seen.g2, "closed", "members that answered 200 keep a closed breaker");
  assert.equal(seen.g3, "closed");
});
