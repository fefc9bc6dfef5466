// URLs in the config that matched the schema's shape but are no URL. `tracing.otlpEndpoint:
// http://127.0.0.1:99999/v1/traces` (or `http://[::1/v1/traces`) passed `validate`, and `start`
// died as tracing started, with the OpenTelemetry exporter's `Error: Configuration: Could not
// parse user-provided export URL` and its stack, naming no field. `admin.fleet` entries the
// same shape-only check let through (`http://10.0.0.2:99999`) were a neighbour never asked.
// Both are now config errors naming the field. Real `shardgate validate` / `start` processes.

import assert from "node:assert/strict";
import { test } from "node:test";
import { runShardgate } from "../support/ctl-runner.js";
import { ONE_MEMBER_POOL } from "../support/minimal-config.js";
import { TempConfig } from "../support/shardgate-process.js";

const config = (extra: string) =>
  `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }\n${extra}\n${ONE_MEMBER_POOL}`;

const refused: ReadonlyArray<[string, string, readonly string[]]> = [
  [
    'tracing: { enabled: true, otlpEndpoint: "http://127.0.0.1:99999/v1/traces" }',
    "tracing.otlpEndpoint: expected an OTLP/HTTP traces URL",
    ["validate", "start"],
  ],
  [
    'tracing: { enabled: true, otlpEndpoint: "http://[::1/v1/traces" }',
    "tracing.otlpEndpoint: expected an OTLP/HTTP traces URL",
    ["validate", "start"],
  ],
  ['admin: { fleet: ["http://127.0.0.1:99999"] }', "admin.fleet[0]: expected an admin URL", ["validate"]],
  ['admin: { fleet: ["http://[::1"] }', "admin.fleet[0]: expected an admin URL", ["validate"]],
];

for (const [extra, error, cmds] of refused) {
  for (const cmd of cmds) {
    test(`${cmd} with ${extra}: exit 1, "${error}"`, async (t) => {
      const file = new TempConfig(config(extra));
      t.after(() => file.remove());
      const r = await runShardgate([cmd, "--config", file.path], {}, 15_000);
      const what = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
      assert.equal(r.code, 1, what);
      assert.ok(r.stderr.includes(error), what);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${what}`);
      assert.ok(!r.stdout.includes('"msg":"listening"'), `nothing served: ${what}`);
    });
  }
}

test("URLs that parse still validate", async (t) => {
  for (const extra of [
    'tracing: { enabled: true, otlpEndpoint: "http://127.0.0.1:4318/v1/traces" }',
    'tracing: { enabled: true, otlpEndpoint: "https://otel.example/v1/traces" }',
    'tracing: { enabled: true, otlpEndpoint: "http://[::1]:4318/v1/traces" }',
    'admin: { fleet: ["http://10.0.0.2:9901", "http://[::1]:9901", "https://a.example:9901"] }',
  ]) {
    const file = new TempConfig(config(extra));
    t.after(() => file.remove());
    const r = await runShardgate(["validate", "--config", file.path]);
    assert.equal(r.code, 0, `${extra}: ${r.stderr}`);
  }
});
