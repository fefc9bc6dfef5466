// The per-member metrics of a real shardgate: the latency histogram counts each member's
// requests, the in-flight gauge shows a slow member's open requests while they are open, a
// drained owner's keys are counted as not served by their owner (reason "draining"), and the
// build-info gauge names the version.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  eventually,
  fetchJson,
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const TOKEN = "member-metrics-token";

async function scrape(sg: RunningShardgate): Promise<string> {
  return (await fetch(`${sg.adminUrl}/metrics`)).text();
}

describe("per-member metrics", () => {
  let ups: EchoUpstream[];
  let sg: RunningShardgate;

  before(async () => {
    ups = await startUpstreams(3, "mm");
    sg = await startShardgate(
      poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), token: TOKEN, accessLog: false }),
    );
  });
  after(async () => {
    await sg?.stop();
    await stopAll();
    await closeAll(ups ?? []);
  });

  test("latency histogram per member counts its requests; build info names the version", async () => {
    const served = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const r = await fetchJson(`${sg.httpUrl}/`, { headers: { "x-user-id": `k${i}` } });
      assert.equal(r.status, 200, r.text);
      const m = (r.body as { member: string }).member;
      served.set(m, (served.get(m) ?? 0) + 1);
    }
    const text = await scrape(sg);
    const counted = new Map<string, number>();
    for (const u of ups) {
      const n = metricValue(text, "shardgate_member_request_duration_seconds_count", {
        pool: "users",
        member: u.id,
      });
      if (n !== undefined) counted.set(u.id, n);
    }
    assert.deepEqual(counted, served, "each member's histogram counts exactly the requests it served");
    for (const [member, n] of counted) {
      const buckets = text
        .split("\n")
        .filter(
          (l) =>
            l.startsWith("shardgate_member_request_duration_seconds_bucket{") &&
            l.includes(`member="${member}"`),
        )
        .map((l) => Number(l.slice(l.lastIndexOf(" ") + 1)));
      assert.ok(buckets.length >= 2, `buckets for ${member}`);
      for (let i = 1; i < buckets.length; i++)
        assert.ok(buckets[i] >= buckets[i - 1], `cumulative buckets for ${member}`);
      assert.equal(buckets[buckets.length - 1], n, `+Inf bucket equals the count for ${member}`);
    }
    const version = (
      JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
        version: string;
      }
    ).version;
    assert.equal(
      metricValue(text, "shardgate_build_info", { version, node_version: process.versions.node }),
      1,
    );
  });

  test("in-flight per member shows a slow member's open requests", async () => {
    const route = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=slowkey`);
    const member = (route.body as { member: string }).member;
    const slow = ups.find((u) => u.id === member) as EchoUpstream;
    slow.mode = { kind: "delayHeaders", ms: 3_000 };
    try {
      const pending = Array.from({ length: 3 }, () =>
        fetch(`${sg.httpUrl}/`, { headers: { "x-user-id": "slowkey" } }),
      );
      await eventually(
        "3 in flight on the slow member",
        async () => {
          const v = metricValue(await scrape(sg), "shardgate_member_requests_in_flight", {
            pool: "users",
            member,
          });
          return v === 3 ? v : undefined;
        },
        10_000,
      );
      const done = await Promise.all(pending);
      for (const r of done) assert.equal(r.status, 200);
      await eventually(
        "in flight back to 0",
        async () => {
          const v = metricValue(await scrape(sg), "shardgate_member_requests_in_flight", {
            pool: "users",
            member,
          });
          return v === undefined || v === 0 ? true : undefined;
        },
        10_000,
      );
    } finally {
      slow.mode = { kind: "echo" };
    }
  });

  test("a drained owner's keys count as not served by their owner, reason draining", async () => {
    const route = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=alice`);
    const owner = (route.body as { owner: string }).owner;
    const before =
      metricValue(await scrape(sg), "shardgate_requests_not_owner_total", {
        pool: "users",
        reason: "drain",
      }) ?? 0;
    const drain = await fetch(`${sg.adminUrl}/admin/pools/users/members/${owner}/drain`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(drain.status, 200, await drain.text());
    try {
      for (let i = 0; i < 5; i++) {
        const r = await fetchJson(`${sg.httpUrl}/`, { headers: { "x-user-id": "alice" } });
        assert.equal(r.status, 200);
      }
      const after = metricValue(await scrape(sg), "shardgate_requests_not_owner_total", {
        pool: "users",
        reason: "drain",
      });
      assert.equal(after, before + 5);
    } finally {
      await fetch(`${sg.adminUrl}/admin/pools/users/members/${owner}/undrain`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
      });
    }
    const ok = await fetchJson(`${sg.httpUrl}/`, { headers: { "x-user-id": "alice" } });
    assert.equal(ok.status, 200);
  });
});
