// Consul discovery on an install without the consul package, at a watcher's query (a pool a
// reload adds): the failure is said in one line, retried with the next query, and keeps Node's
// code. (`validate` and `start` without it: test/app/client-package-missing.test.ts.)

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { installWithout } from "../support/install-without.js";
import { scaled } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "sg-consul-missing-"));
after(() => rmSync(dir, { recursive: true, force: true }));

// A pool a reload adds loads the client at its watcher's first query: that failure is retried
// with the query, and says so; Node's code stays on it for the watcher's log line.
test("a watcher's query without the consul package: the same line, said to be tried again, with Node's code", () => {
  const app = installWithout(dir, "consul");
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
