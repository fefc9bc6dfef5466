// A config with a `redis:` section on an install without the ioredis package (a broken install,
// a pruned image): `validate` and `start` must refuse it with one plain line that names the
// package and Node's error, as they do for the consul client, not with the CLI's last-resort
// stack trace. Real processes run the built CLI from a directory whose node_modules links every
// package of ours but ioredis; --preserve-symlinks keeps Node resolving from that directory.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { scaled } from "../support/wait.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "sg-ioredis-missing-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// Port 9 (discard) is never dialled: the load fails before anything connects.
const CONFIG = `listen:
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

function installWithout(pkg: string): string {
  const app = join(dir, "app");
  mkdirSync(join(app, "node_modules"), { recursive: true });
  symlinkSync(join(root, "dist"), join(app, "dist"));
  symlinkSync(join(root, "package.json"), join(app, "package.json"));
  for (const name of readdirSync(join(root, "node_modules")))
    if (name !== pkg) symlinkSync(join(root, "node_modules", name), join(app, "node_modules", name));
  return app;
}

test("validate and start without the ioredis package: one clear line naming it, exit 1", () => {
  const app = installWithout("ioredis");
  const config = join(dir, "redis.yaml");
  writeFileSync(config, CONFIG);
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
    assert.match(
      lines[0],
      /the Redis client \(package ioredis\) could not be loaded: Cannot find package 'ioredis'/,
    );
  }
});
