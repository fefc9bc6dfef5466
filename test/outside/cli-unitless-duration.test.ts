// A duration typed on the command line without a unit. `--drain-timeout 10` was read as 10 ms
// (a plain number is milliseconds in the config file), so an operator who meant 10 s had every
// in-flight request cut at once on the next SIGTERM, and nothing said so; `ctl --timeout 30`
// gave each admin call 30 ms. Both are now usage errors (exit 2) that name the flag and offer
// "10s" and "10ms"; a value with its unit, and 0 (no unit needed), still pass.
// Real `shardgate start` / `validate` / `ctl` processes.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { runCtl, runShardgate } from "../support/ctl-runner.js";
import { oneMemberConfig } from "../support/minimal-config.js";
import { TempConfig } from "../support/shardgate-process.js";

const config = new TempConfig(oneMemberConfig());
after(() => config.remove());

for (const cmd of ["start", "validate"]) {
  test(`${cmd} --drain-timeout 10: exit 2, suggesting "10s" or "10ms"; nothing starts`, async () => {
    const r = await runShardgate([cmd, "--config", config.path, "--drain-timeout", "10"]);
    const what = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    assert.equal(r.code, 2, what);
    assert.ok(
      r.stderr.includes(
        `shardgate ${cmd}: --drain-timeout: expected a duration with a unit: "10" has none; write "10s" for seconds or "10ms" for milliseconds`,
      ),
      what,
    );
    assert.ok(!r.stdout.includes('"msg":"listening"'), `nothing served: ${what}`);
  });
}

test("validate --drain-timeout 10s, 10ms and 0 are accepted", async () => {
  for (const d of ["10s", "10ms", "0"]) {
    const r = await runShardgate(["validate", "--config", config.path, "--drain-timeout", d]);
    assert.equal(r.code, 0, `--drain-timeout ${d}: ${r.stderr}`);
    assert.match(r.stdout, /^ok: 1 pools, 1 routes/);
  }
});

test('ctl --timeout 500: exit 2 before any call, suggesting "500ms" or "500s"', async () => {
  // A closed address: had the flag passed, ctl would try it and exit 1, not 2.
  const r = await runCtl(["--admin", "http://127.0.0.1:9", "--timeout", "500", "status"]);
  const what = `exit ${r.code}\nstderr: ${r.stderr}`;
  assert.equal(r.code, 2, what);
  assert.ok(
    r.stderr.includes(
      'shardgate ctl: --timeout expects a duration with a unit: "500" has none; write "500s" for seconds or "500ms" for milliseconds, got "500"',
    ),
    what,
  );
});
