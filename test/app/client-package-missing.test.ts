// A config that needs a client package the install lacks (a broken install, a pruned image):
// ioredis for a `redis:` section, @kubernetes/client-node for Kubernetes discovery. `validate`
// and `start` must refuse it with one plain line that names the package and Node's error, as
// they do for the consul client, not with the CLI's last-resort stack trace (start did; validate
// passed a Kubernetes config). Real processes run the built CLI from a directory whose
// node_modules links every package of ours but that one; --preserve-symlinks keeps Node
// resolving from that directory.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { scaled } from "../support/wait.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
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
const KUBERNETES_CONFIG = `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
pools:
  web:
    discovery: { kubernetes: { service: web, namespace: shop, port: http, kubeconfig: /nonexistent/kubeconfig } }
routes:
  - { pool: web, key: [ip] }
`;

/** A directory whose node_modules links every package of ours but `pkg` (a scope: its other packages too). */
function installWithout(pkg: string): string {
  const app = join(dir, pkg.replace(/[@/]/g, "_"));
  mkdirSync(join(app, "node_modules"), { recursive: true });
  symlinkSync(join(root, "dist"), join(app, "dist"));
  symlinkSync(join(root, "package.json"), join(app, "package.json"));
  const [scope, scoped] = pkg.startsWith("@") ? pkg.split("/") : [undefined, undefined];
  for (const name of readdirSync(join(root, "node_modules"))) {
    if (name === pkg) continue;
    if (name !== scope) {
      symlinkSync(join(root, "node_modules", name), join(app, "node_modules", name));
      continue;
    }
    mkdirSync(join(app, "node_modules", name));
    for (const inner of readdirSync(join(root, "node_modules", name)))
      if (inner !== scoped)
        symlinkSync(join(root, "node_modules", name, inner), join(app, "node_modules", name, inner));
  }
  return app;
}

const cases = [
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
    const app = installWithout(c.pkg);
    const config = join(dir, `${c.pkg.replace(/[@/]/g, "_")}.yaml`);
    writeFileSync(config, c.config);
    for (const command of ["validate", "start"]) {
      const r = spawnSync(
        process.execPath,
        [
          "--preserve-symlinks",
          "--preserve-symlinks-main",
          join(app, "dist/proxy/cli.js"),
          command,
          "--config",
          config,
        ],
        { cwd: dir, encoding: "utf8", timeout: scaled(30_000) },
      );
      assert.equal(r.status, 1, `${command} exits 1: ${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `${command}: one line, no stack trace: ${r.stderr}`);
      assert.match(lines[0], new RegExp(`^shardgate ${command}${c.line.source}`));
    }
  });
