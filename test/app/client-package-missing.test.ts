// A config that needs a client package the install lacks (a broken install, a pruned image):
// ioredis for a `redis:` section, @kubernetes/client-node for Kubernetes discovery, consul for
// Consul discovery. `validate`
// and `start` must refuse it with one plain line that names the package and Node's error, as
// the consul client did first, not with the CLI's last-resort stack trace (start did; validate
// passed a Kubernetes config). Real processes run the built CLI from a directory whose
// node_modules links every package of ours but that one; --preserve-symlinks keeps Node
// resolving from that directory.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { cliFrom, installWithout } from "../support/install-without.js";

const dir = mkdtempSync(join(tmpdir(), "sg-client-missing-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// Port 9 (discard) is never dialled: the load fails before anything connects.
const REDIS_CONFIG = `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
redis: { url: "redis://127.0.0.1:9" }
pools:
  users:
    members: [{ id: a, address: "127.0.0.1:9" }]
routes:
  - match: { host: "*", pathPrefix: / }
    pool: users
    key: [ip]
`;

// The kubeconfig is never read: the load fails first.
// Nothing listens on port 9: the load fails before the first query.
const CONSUL_CONFIG = `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
discovery:
  consul: { address: "http://127.0.0.1:9" }
pools:
  users:
    discovery: { consul: { service: users-api } }
routes:
  - match: { host: "*", pathPrefix: / }
    pool: users
    key: [ip]
`;

const KUBERNETES_CONFIG = `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
pools:
  web:
    discovery: { kubernetes: { service: web, namespace: shop, port: http, kubeconfig: /nonexistent/kubeconfig } }
routes:
  - { pool: web, key: [ip] }
`;

const cases = [
  {
    pkg: "consul",
    config: CONSUL_CONFIG,
    // The process exits: nothing is tried again, and the line must not say it is.
    line: /: the consul client \(package consul\) could not be loaded: Cannot find module 'consul'$/,
  },
  {
    pkg: "ioredis",
    config: REDIS_CONFIG,
    line: /: the Redis client \(package ioredis\) could not be loaded: Cannot find package 'ioredis'/,
  },
  {
    pkg: "@kubernetes/client-node",
    config: KUBERNETES_CONFIG,
    line: /: the Kubernetes client \(package @kubernetes\/client-node\) could not be loaded: Cannot find package '@kubernetes\/client-node'/,
  },
];

for (const c of cases)
  test(`validate and start without the ${c.pkg} package: one clear line naming it, exit 1`, () => {
    const app = installWithout(dir, c.pkg);
    const config = join(dir, `${c.pkg.replace(/[@/]/g, "_")}.yaml`);
    writeFileSync(config, c.config);
    for (const command of ["validate", "start"]) {
      const r = cliFrom(app, [command, "--config", config], dir);
      assert.equal(r.status, 1, `${command} exits 1: ${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `${command}: one line, no stack trace: ${r.stderr}`);
      assert.match(lines[0], new RegExp(`^shardgate ${command}${c.line.source}`));
    }
  });
