// Active health checks in a real shardgate process: a member that dies is taken out (state,
// routing, explain, metrics, log, readiness) and brought back when it recovers.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { randomKeys } from "../../ring/random.js";
import { seedNote, testSeed } from "../support/prng.js";
import {
  eventually,
  fetchJson,
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const SEED = testSeed(7031);

interface StateBody {
  pools: Record<string, { members: Array<{ id: string; healthy: boolean }> }>;
}

async function healthyOf(sg: RunningShardgate, member: string): Promise<boolean | undefined> {
  const s = (await fetchJson(`${sg.adminUrl}/admin/state`)).body as StateBody;
  return s.pools.users.members.find((m) => m.id === member)?.healthy;
}

async function memberFor(
  sg: RunningShardgate,
  key: string,
): Promise<{ status: number; member: string | undefined }> {
  const r = await fetchJson(`${sg.httpUrl}/`, { headers: { "x-user-id": key } });
  return { status: r.status, member: (r.body as { member?: string } | undefined)?.member };
}

describe("ops: active health checks", () => {
  let ups: EchoUpstream[] = [];
  let sg: RunningShardgate;

  before(async () => {
    ups = await startUpstreams(3, "h");
    sg = await startShardgate(
      poolConfig({
        members: ups.map((u) => ({ id: u.id, port: u.port })),
        // A dead member fails at once (connection refused), so the timeout only has to keep a
        // live member's slow answer on a loaded machine from counting as a failure. At 100 ms,
        // two slow answers in a row marked live members unhealthy and back (transition counts
        // of 2 and 3, with either engine). The timeout may not exceed the interval, so both
        // are 1 s: a dead member is still out within about 2 s.
        poolExtra:
          "    healthCheck: { path: /health, interval: 1s, timeout: 1s, healthyThreshold: 1, unhealthyThreshold: 2 }",
      }),
    );
  });
  after(async () => {
    await sg?.stop();
    await closeAll(ups);
  });

  test("a dead member is taken out and comes back when it recovers", async () => {
    // A key owned by h1, found through the admin API (seeded candidates).
    let key: string | undefined;
    for (const k of randomKeys(SEED, 200, 10)) {
      const e = (await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${k}`)).body as { owner: string };
      if (e.owner === "h1") {
        key = k;
        break;
      }
    }
    assert.ok(key !== undefined, `no key among 200 owned by h1 (${seedNote(SEED)})`);
    assert.deepEqual(await memberFor(sg, key), { status: 200, member: "h1" });

    await ups[0].die();
    await eventually(
      "h1 marked unhealthy",
      async () => ((await healthyOf(sg, "h1")) === false ? true : undefined),
      8_000,
    );
    assert.deepEqual(await memberFor(sg, key).then((r) => r.status), 200);
    const moved = await memberFor(sg, key);
    assert.notEqual(moved.member, "h1", `${seedNote(SEED)} key ${key}`);
    const e = (await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${key}`)).body as {
      owner: string;
      member: string;
      skipped: Array<{ id: string; reason: string }>;
    };
    assert.equal(e.owner, "h1");
    assert.equal(e.member, moved.member);
    assert.deepEqual(e.skipped, [{ id: "h1", reason: "unhealthy" }]);
    let metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
    assert.equal(metricValue(metrics, "shardgate_member_healthy", { pool: "users", member: "h1" }), 0);
    assert.equal(metricValue(metrics, "shardgate_member_healthy", { pool: "users", member: "h2" }), 1);
    assert.equal(
      metricValue(metrics, "shardgate_health_transitions_total", {
        pool: "users",
        member: "h1",
        to: "unhealthy",
      }),
      1,
    );
    const line = await sg.proc.waitForLine(
      "member unhealthy log",
      (l) => l.msg === "member unhealthy" && l.member === "h1",
    );
    assert.equal(line.pool, "users");
    assert.equal(typeof line.reason, "string");

    await ups[0].revive();
    await eventually(
      "h1 healthy again",
      async () => ((await healthyOf(sg, "h1")) === true ? true : undefined),
      8_000,
    );
    assert.deepEqual(await memberFor(sg, key), { status: 200, member: "h1" });
    metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
    assert.equal(metricValue(metrics, "shardgate_member_healthy", { pool: "users", member: "h1" }), 1);
    assert.equal(
      metricValue(metrics, "shardgate_health_transitions_total", {
        pool: "users",
        member: "h1",
        to: "healthy",
      }),
      1,
    );
  });

  test("readyz is 503 with a reason while no member is available, 200 again after recovery", async () => {
    await Promise.all(ups.map((u) => u.die()));
    const notReady = await eventually(
      "readyz 503",
      async () => {
        const r = await fetchJson(`${sg.adminUrl}/readyz`);
        return r.status === 503 ? r : undefined;
      },
      8_000,
    );
    assert.deepEqual(notReady.body, {
      ready: false,
      reason: "no_available_member",
      detail: { pools: ["users"] },
    });
    const r = await fetchJson(`${sg.httpUrl}/`, { headers: { "x-user-id": "anyone" } });
    assert.equal(r.status, 503, r.text);
    assert.equal((r.body as { error: string }).error, "no_available_member");
    assert.equal((await fetchJson(`${sg.adminUrl}/healthz`)).status, 200, "the process itself is alive");

    await Promise.all(ups.map((u) => u.revive()));
    await eventually(
      "readyz 200",
      async () => ((await fetchJson(`${sg.adminUrl}/readyz`)).status === 200 ? true : undefined),
      8_000,
    );
  });
});
