// cache.maxBytes and admin.maxBodySize without an upper bound. Before, `100gb` passed `validate`
// and `start` for both: a route's cache held each storable response body whole in memory up to
// that size (and copied it once more into its entry) while Redis refuses any value over 512 MB,
// and the admin port read a body of up to that size into memory before parsing one that could
// never be committed (a cluster command is at most 8 MiB). Both are now config errors naming the
// field and the limit (cache.maxBytes at most 256 MiB, admin.maxBodySize at most 8 MiB), and the
// limits themselves validate. Real `shardgate validate` / `start` processes. The cache's bound is
// a file's only: committed routing over it (a peer of an earlier build) is still applied.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { validateCommand } from "../../config/state/commands.js";
import { runShardgate } from "../support/ctl-runner.js";
import { ONE_MEMBER_POOL } from "../support/minimal-config.js";
import { TempConfig } from "../support/shardgate-process.js";

const LISTEN = "listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }\n";
const CACHE_ROUTE = (size: string) =>
  `pools:
  p:
    members:
      - { id: m1, address: 127.0.0.1:9 }
redis: { url: "redis://127.0.0.1:1" }
routes:
  - match: { host: "*", pathPrefix: / }
    pool: p
    key: [path:1]
    cache: { maxBytes: ${size} }
`;

interface Case {
  field: string;
  config: (size: string) => string;
  limit: number;
}

const cases: Case[] = [
  {
    field: "routes[0].cache.maxBytes",
    config: (size) => `${LISTEN}${CACHE_ROUTE(size)}`,
    limit: 256 * 1024 * 1024,
  },
  {
    field: "admin.maxBodySize",
    config: (size) => `${LISTEN}admin: { maxBodySize: ${size} }\n${ONE_MEMBER_POOL}`,
    limit: 8 * 1024 * 1024,
  },
];

for (const c of cases) {
  for (const size of ["100gb", `${c.limit + 1}`]) {
    for (const cmd of ["validate", "start"]) {
      test(`${cmd} with ${c.field} ${size}: exit 1 naming the field and its limit`, async () => {
        const config = new TempConfig(c.config(size));
        after(() => config.remove());
        const r = await runShardgate([cmd, "--config", config.path], {}, 15_000);
        const what = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
        assert.equal(r.code, 1, what);
        assert.ok(r.stderr.includes(`${c.field}: `), what);
        assert.ok(r.stderr.includes(`at most ${c.limit} bytes`), what);
        assert.ok(!r.stdout.includes('"msg":"listening"'), `nothing served: ${what}`);
      });
    }
  }

  test(`validate with ${c.field} at its limit passes`, async () => {
    const config = new TempConfig(c.config(`${c.limit}`));
    after(() => config.remove());
    const r = await runShardgate(["validate", "--config", config.path], {}, 15_000);
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  });
}

test("a committed SetRouting with cache.maxBytes over the file's limit is still valid", () => {
  // An earlier build took 1gb and may have committed it; this build must apply what its fleet
  // applied, not skip it.
  const routing = {
    pools: { p: { members: [{ id: "m1", address: "127.0.0.1:9" }] } },
    routes: [{ pool: "p", key: ["path:1"], cache: { maxBytes: "1gb" } }],
  };
  const bytes = new TextEncoder().encode(JSON.stringify({ v: 1, type: "SetRouting", routing }));
  const r = validateCommand(bytes);
  assert.ok(r.ok, JSON.stringify(r));
});
