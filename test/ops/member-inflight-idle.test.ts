// shardgate_member_requests_in_flight on an idle process. It had samples only for members with
// open requests, so the dashboard's "In flight by member" panel showed "No data" instead of 0s
// until traffic came. Every member of every pool now has a sample, 0 when idle (the labels of
// shardgate_member_healthy: no new cardinality). shardgate_requests_in_flight{pool} had no
// series at all for an idle pool; it now has its 0 too. A real shardgate, scraped before any
// request.

import assert from "node:assert/strict";
import { test } from "node:test";
import { echoBehindProxy } from "../support/echo-behind-proxy.js";
import { eventually, metricLines, metricValue } from "../support/shardgate-process.js";

const fx = echoBehindProxy({ count: 3, prefix: "idle" });

test("an idle process exports 0 in flight for each member of the pool, and no other member", async () => {
  const ups = fx.upstreams;
  const text = await eventually(
    "every member has a shardgate_member_healthy sample",
    async () => {
      const t = await (await fetch(`${fx.sg.adminUrl}/metrics`)).text();
      return ups.every(
        (u) => metricValue(t, "shardgate_member_healthy", { pool: "users", member: u.id }) !== undefined,
      )
        ? t
        : undefined;
    },
    30_000,
  );
  for (const u of ups) {
    assert.equal(
      metricValue(text, "shardgate_member_requests_in_flight", { pool: "users", member: u.id }),
      0,
      `${u.id}\n${metricLines(text, "shardgate_member_requests_in_flight").join("\n")}`,
    );
  }
  assert.equal(metricLines(text, "shardgate_member_requests_in_flight").length, ups.length);
  assert.deepEqual(
    metricLines(text, "shardgate_requests_in_flight"),
    ['shardgate_requests_in_flight{pool="users"} 0'],
    "an idle pool's in-flight gauge",
  );
});
