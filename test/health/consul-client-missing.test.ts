// A config with Consul discovery on an install without the consul package (a broken install, a
// pruned image): `validate` and `start` must refuse it with one plain line that names the package,
// not a stack trace, and not say the load is tried again (the process exits). Real processes run
// the built CLI from a directory whose node_modules links every package of ours but consul;
// --preserve-symlinks keeps Node resolving from that directory, not from the links' targets.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { scaled } from "../support/wait.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "sg-consul-missing-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const CONFIG = `listen:
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

let installed: string | undefined;

function installWithoutConsul(): string {
  if (installed !== undefined) return installed;
  const app = join(dir, "app");
  installed = app;
  mkdirSync(join(app, "node_modules"), { recursive: true });
  symlinkSync(join(root, "dist"), join(app, "dist"));
  symlinkSync(join(root, "package.json"), join(app, "package.json"));
  for (const name of readdirSync(join(root, "node_modules")))
    if (name !== "consul") symlinkSync(join(root, "node_modules", name), join(app, "node_modules", name));
  return app;
}

test("validate and start without the consul package: one clear line, exit 1", () => {
  const app = installWithoutConsul();
  const config = join(dir, "consul.yaml");
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
      /consul client \(package consul\) could not be loaded: Cannot find module 'consul'/,
    );
    assert.doesNotMatch(lines[0], /tried again/, `${command} exits: nothing is tried again`);
  }
});

// A pool a reload adds loads the client at its watcher's first query: that failure is retried
// with the query, and says so; Node's code stays on it for the watcher's log line.
test("a watcher's query without the consul package: the same line, said to be tried again, with Node's code", () => {
  const app = installWithoutConsul();
  const script = `
    import(${JSON.stringify(join(app, "dist/health/consul-health-query.js"))}).then(async ({ ConsulHealthClient }) => {
      const { ConsulAnswerCache } = await import(${JSON.stringify(join(app, "dist/health/consul-answer-cache.js"))});
      const client = new ConsulHealthClient("http://127.0.0.1:9", "", 5000);
      const query = { service: "web", index: "0", waitMs: 1000, datacenter: undefined, tags: [], filter: undefined };
      const out = [];
      for (let i = 0; i < 2; i++)
        await client.query(query, new ConsulAnswerCache()).then(() => out.push("answered"), (err) => out.push({ message: err.message, code: err.code }));
      await client.close();
      console.log(JSON.stringify(out));
    });`;
  const out = JSON.parse(
    execFileSync(process.execPath, ["--preserve-symlinks", "-e", script], {
      cwd: dir,
      encoding: "utf8",
      timeout: scaled(30_000),
    }).trim(),
  ) as Array<{ message: string; code: string }>;
  assert.equal(out.length, 2);
  for (const failure of out) {
    assert.match(
      failure.message,
      /^the consul client \(package consul\) could not be loaded: Cannot find module 'consul' \(tried again at the next query\)$/,
    );
    assert.equal(failure.code, "MODULE_NOT_FOUND");
  }
});
