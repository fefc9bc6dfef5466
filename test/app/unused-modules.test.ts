// A process loads the heavy packages only for the config sections that use them: ioredis for
// `redis:`, consul for Consul discovery, @kubernetes/client-node for Kubernetes discovery, the
// OpenTelemetry SDK and exporter for `tracing:`. Each start of a minimal config used to load
// ioredis and consul too (~150 ms of CPU per process, paid by every process a test starts).
// And a process that only checks (`validate`, or a start a check refuses) does not load the
// running instance's modules (proxy/app/start-running.ts: the data plane, whose http-proxy-3
// and undici are the markers here): they were half of validate's CPU.
// Real `shardgate start` and `validate` processes list what they load through a loader hook
// (support/loaded-modules.ts); the control shows the same listing does see ioredis and consul.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadedModulesEnv, loadedPackages } from "../support/loaded-modules.js";
import { oneMemberConfig } from "../support/minimal-config.js";
import { ShardgateChild, startShardgate, stopAll, TempConfig } from "../support/shardgate-process.js";

test.after(() => stopAll());

const UNUSED = [
  "ioredis",
  "consul",
  "@kubernetes/client-node",
  "@opentelemetry/sdk-trace",
  "@opentelemetry/exporter-trace-otlp-http",
  "@opentelemetry/resources",
];

/** Packages only the running instance loads (its data plane). */
const RUNNING = ["http-proxy-3", "undici"];

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "shardgate-modules-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The packages `shardgate <command> --config FILE` loads, once it exited with `code`. */
async function commandPackages(
  command: string,
  yaml: string,
  dir: string,
  code = 0,
  extraEnv: Record<string, string> = {},
): Promise<string[]> {
  const config = new TempConfig(yaml);
  const { env, file } = loadedModulesEnv(dir);
  const proc = new ShardgateChild([command, "--config", config.path], { env: { ...env, ...extraEnv } });
  try {
    const exit = await proc.waitExit();
    assert.equal(exit.code, code, proc.output());
  } finally {
    await proc.stop();
    config.remove();
  }
  return loadedPackages(file);
}

test("a minimal config's start and validate load none of the optional heavy packages", async (t) => {
  const dir = tempDir(t);
  const { env, file } = loadedModulesEnv(dir);
  const sg = await startShardgate(oneMemberConfig(), { env });
  await sg.stop();
  const started = loadedPackages(file);
  // The listing works: the packages every start needs are in it.
  assert.ok(started.includes("undici") && started.includes("zod"), started.join(", "));
  for (const name of UNUSED)
    assert.ok(!started.includes(name), `start loaded ${name}: ${started.join(", ")}`);

  const validated = await commandPackages("validate", oneMemberConfig(), tempDir(t));
  for (const name of [...UNUSED, ...RUNNING])
    assert.ok(!validated.includes(name), `validate loaded ${name}: ${validated.join(", ")}`);
});

test("a start refused by a check does not load the running instance's modules", async (t) => {
  const refused = await commandPackages("start", oneMemberConfig(), tempDir(t), 1, {
    SHARDGATE_ENGINE: "fast",
  });
  assert.ok(refused.includes("zod"), refused.join(", "));
  for (const name of RUNNING)
    assert.ok(!refused.includes(name), `a refused start loaded ${name}: ${refused.join(", ")}`);
});

test("a config with redis and a Consul pool loads ioredis and consul at validate, as start does", async (t) => {
  const yaml = `${oneMemberConfig()}redis: { url: "redis://127.0.0.1:9" }
discovery:
  consul: { address: "http://127.0.0.1:9" }
`.replace(
    "routes:",
    `  d:
    discovery: { consul: { service: web } }
routes:`,
  );
  const loaded = await commandPackages("validate", yaml, tempDir(t));
  assert.ok(loaded.includes("ioredis"), loaded.join(", "));
  assert.ok(loaded.includes("consul"), loaded.join(", "));
});
