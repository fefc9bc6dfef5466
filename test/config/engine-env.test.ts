// SHARDGATE_ENGINE with a value that is not an engine. The data plane reads it as "http-proxy,
// else undici", so `SHARDGATE_ENGINE=http_proxy` ran undici without a word while the operator
// believed the process had moved to http-proxy-3 (README, Forwarding engine). validate and
// start now refuse it (exit 1) naming the variable and the value, and accept both engines'
// names and an empty value. Real `shardgate validate` / `start` processes.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";
import { issueMinimalConfig } from "../support/minimal-config.js";
import { freePorts } from "../support/ports.js";
import { TempConfig } from "../support/shardgate-process.js";

const ports = (await freePorts(3)) as [number, number, number];
const config = new TempConfig(issueMinimalConfig(ports));
after(() => config.remove());

for (const bad of ["http_proxy", "httpproxy", "HTTP-PROXY", "undici7"]) {
  test(`SHARDGATE_ENGINE=${bad}: validate and start exit 1 naming it`, async () => {
    for (const cmd of ["validate", "start"]) {
      const r = await runShardgate([cmd, "--config", config.path], { SHARDGATE_ENGINE: bad });
      const what = `${cmd}: exit ${r.code}\n${r.stdout}\n${r.stderr}`;
      assert.equal(r.code, 1, what);
      assert.ok(
        r.stderr.includes(
          `SHARDGATE_ENGINE: expected "undici" or "http-proxy" (or unset: undici), got "${bad}"`,
        ),
        what,
      );
      assert.ok(!r.stdout.includes('"msg":"listening"'), `start did not serve: ${what}`);
    }
  });
}

test("SHARDGATE_ENGINE=undici, =http-proxy and empty pass validate", async () => {
  for (const ok of ["undici", "http-proxy", ""]) {
    const r = await runShardgate(["validate", "--config", config.path], { SHARDGATE_ENGINE: ok });
    assert.equal(r.code, 0, `SHARDGATE_ENGINE=${JSON.stringify(ok)}: ${r.stderr}`);
    assert.match(r.stdout, /^ok: 1 pools, 1 routes/);
  }
});
