// What a module-level value is in a fresh Node process: the test-only bounds
// (SHARDGATE_TEST_<NAME>, proxy/test-duration.ts) are read once, when their module loads, so a
// test that relies on one being shortened checks it in a process of its own.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { TEST_DURATION_PREFIX } from "../../proxy/test-duration.js";

/**
 * `exported` of `module` (a path under dist/proxy, e.g. "server/linger-close.js") as a fresh
 * process given `env` on top of this one's (without any SHARDGATE_TEST_ variable) sees it, and
 * that process's stderr. `exported` may name a field of an export ("SETTINGS.timeoutMs").
 */
export function freshModuleValue(
  module: string,
  exported: string,
  env: Record<string, string>,
): { value: string; stderr: string } {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith(TEST_DURATION_PREFIX)),
  ) as Record<string, string>;
  const url = new URL(`../../proxy/${module}`, import.meta.url).href;
  const script = `import(${JSON.stringify(url)}).then((m) => process.stdout.write(String(m.${exported})))`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...clean, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `node exited ${r.status} (${r.signal}): ${r.stderr}`);
  return { value: r.stdout, stderr: r.stderr };
}
