// shardgate_requests_in_flight{pool} for a pool with no members. The gauge's idle 0 was taken
// from the member flags, so a discovered pool whose service has no instance yet (or was scaled
// to zero) had no series at all, and `sum by (pool)` showed "No data" for exactly the pool an
// operator is looking at. Every pool of the applied routing now has its 0; a pool a reload
// removes loses its series. A real shardgate watching a Consul double with nothing registered.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ConsulDouble } from "../support/consul-double.js";
import { eventually, metricLines, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";

after(stopAll);

function config(consul: string, member: { id: string; port: number } | null): string {
  const users =
    member === null
      ? ""
      : `  users:
    members:
      - { id: ${member.id}, address: "127.0.0.1:${member.port}" }
`;
  const route = member === null ? "" : "  - { match: { pathPrefix: /u }, pool: users, key: [ip] }\n";
  return `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
discovery:
  consul: { address: "http://${consul}", wait: 5s }
pools:
  api:
    discovery: { consul: { service: api } }
${users}routes:
${route}  - { pool: api, key: [ip] }
`;
}

async function inFlightLines(adminUrl: string): Promise<string[]> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return metricLines(text, "shardgate_requests_in_flight").sort();
}

test("a pool with no members has its in-flight 0; a pool a reload removes has none", async (t) => {
  const consul = await ConsulDouble.create({ seed: 7 });
  t.after(() => consul.close());
  const ups = await startUpstreams(1, "ife");
  t.after(() => closeAll(ups));
  const sg = await startShardgate(config(consul.address, ups[0]), { waitReady: false });
  t.after(() => sg.stop());
  const both = ['shardgate_requests_in_flight{pool="api"} 0', `shardgate_requests_in_flight{pool="users"} 0`];
  let seen: string[] = [];
  await eventually(
    "an in-flight 0 for the static pool and for the empty discovered one",
    async () => {
      seen = await inFlightLines(sg.adminUrl);
      return seen.length === 2 ? seen : undefined;
    },
    15_000,
  ).catch((err) => assert.fail(`${err}\nlast scrape: ${JSON.stringify(seen)}\n${sg.proc.output()}`));
  assert.deepEqual(seen, both);

  sg.config.write(config(consul.address, null));
  sg.proc.signal("SIGHUP");
  await eventually(
    "the removed pool's series gone",
    async () => {
      seen = await inFlightLines(sg.adminUrl);
      return seen.length === 1 ? seen : undefined;
    },
    15_000,
  ).catch((err) => assert.fail(`${err}\nlast scrape: ${JSON.stringify(seen)}\n${sg.proc.output()}`));
  assert.deepEqual(seen, ['shardgate_requests_in_flight{pool="api"} 0']);
});
