// The dashboard feed of a 10,000-member pool reads live figures for the members of the page it
// answers, not for the pool: reading every member's window held a 10,000-member proxy's event
// loop for 100+ ms (a proxied request waited up to 337 ms during one GET /admin/live, against
// 5 ms at 10 members), once per update of every open page. Bounded by counts: members whose
// figures one answer reads, and the answer's bytes.

import assert from "node:assert/strict";
import { test } from "node:test";
import { DashboardFeed } from "../../proxy/admin/dashboard-feed.js";
import { PAGE_ROWS } from "../../proxy/admin/dashboard-members.js";
import type { LiveFilter, LiveView, OpsBackend } from "../../proxy/admin/ops-types.js";
import type { AdminMemberView, AdminStateView } from "../../proxy/admin/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(10_000);
const MEMBERS = 10_000;
const MAX_ANSWER_BYTES = 64 * 1024;

function state(random: () => number): AdminStateView {
  const members: AdminMemberView[] = Array.from({ length: MEMBERS }, (_, i) => ({
    id: `m${i}`,
    address: `10.0.${i >> 8}.${i & 255}:8080`,
    weight: 1,
    healthy: random() > 0.01,
    draining: random() < 0.01,
    breakerOpen: false,
    breaker: "closed",
    breakerOverride: "auto",
    source: "static",
  }));
  return { ringVersion: 7, pools: { big: { algorithm: "maglev", ringVersion: 7, members } } };
}

test(`one dashboard answer reads live figures for one page of ${MEMBERS} members (${seedNote(SEED)})`, async () => {
  const random = seededRandom(SEED);
  const s = state(random);
  const asked: Array<LiveFilter | undefined> = [];
  const ops = {
    live(only?: LiveFilter): LiveView {
      asked.push(only);
      const ids = only?.ids ?? s.pools.big.members.map((m) => m.id);
      const figures = Object.fromEntries(
        ids.map((id) => [id, { inFlight: 1, rate: 2, errorRate: 0, p50: 1, p99: 2 }]),
      );
      return { windowSeconds: 10, pools: { big: figures } };
    },
    changes: () => [],
    fleet: async () => [],
  } as unknown as OpsBackend;
  const feed = new DashboardFeed(ops, () => s);
  for (const q of [
    { pool: null, offset: 0, show: "all" as const },
    { pool: "big", offset: Math.floor(random() * MEMBERS), show: "all" as const },
    { pool: "big", offset: 0, show: "out" as const },
  ]) {
    asked.length = 0;
    const r = await feed.read(q);
    assert.ok(r.ok, JSON.stringify(r));
    const members = asked.reduce((n, a) => n + (a === undefined ? MEMBERS : a.ids.length), 0);
    assert.ok(members <= PAGE_ROWS, `${JSON.stringify(q)}: live figures read for ${members} members`);
    const bytes = Buffer.byteLength(r.value);
    assert.ok(bytes <= MAX_ANSWER_BYTES, `${JSON.stringify(q)}: ${bytes} B`);
    const page = JSON.parse(r.value).members as { rows: Array<{ id: string; live: unknown }> };
    assert.ok(page.rows.length > 0 && page.rows.length <= PAGE_ROWS);
    assert.ok(
      page.rows.every((row) => row.live !== null),
      "every row of the page has its figures",
    );
  }
});
