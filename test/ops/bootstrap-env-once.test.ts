// SHARDGATE_BOOTSTRAP has one checker: proxy/app/env-flags.ts refuses a value other than "new"
// or "join" (with its error text) before start and validate resolve the cluster settings.
// cluster-settings.ts had a second check with a second copy of the text, unreachable from
// start and validate; it is gone, and the settings take only the two values from the env.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../config/file/load.js";
import { envFlagsError } from "../../proxy/app/env-flags.js";
import { resolveClusterSettings } from "../../proxy/cluster/cluster-settings.js";

const YAML = `pools:
  p:
    members: [{ id: m, address: "127.0.0.1:9000" }]
routes:
  - pool: p
    key: [ip]
cluster:
  id: \${HOSTNAME}
  secret: "0123456789abcdef0123"
  dataDir: /var/lib/shardgate
  statefulSet: { name: shardgate, service: shardgate-raft, namespace: edge, replicas: 3, port: 9902 }
`;

function resolve(bootstrap: string) {
  const env = { HOSTNAME: "shardgate-1", SHARDGATE_BOOTSTRAP: bootstrap };
  const parsed = parseConfig(YAML, env, "k8s.yaml");
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.errors));
  return { env, config: parsed.config, settings: resolveClusterSettings(parsed.config, {}, env) };
}

test("a bad SHARDGATE_BOOTSTRAP is refused by env-flags only; the cluster settings read only new and join", () => {
  const bad = resolve("yes");
  assert.deepEqual(envFlagsError(bad.env, bad.config.cluster !== undefined), {
    variable: "SHARDGATE_BOOTSTRAP",
    message: 'expected "new" or "join", got "yes"',
  });
  // No second check, no second text: a value env-flags refuses never reaches the settings as one.
  assert.ok(bad.settings.ok, !bad.settings.ok ? bad.settings.message : "");
  assert.equal(bad.settings.settings.bootstrap, "join", "3 voters, nothing set: join");
  for (const v of ["new", "join"] as const) {
    const r = resolve(v);
    assert.equal(envFlagsError(r.env, true), null);
    assert.ok(r.settings.ok);
    assert.equal(r.settings.settings.bootstrap, v);
  }
  const empty = resolve("");
  assert.ok(empty.settings.ok);
  assert.equal(empty.settings.settings.bootstrap, "join");
});
