// Warnings about valid files: a pool that no route sends traffic to is named by `validate`
// (exit 0, the file stays valid); a routed pool is not.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { configHints } from "../../config/file/config-hints.js";
import { configSchema } from "../../config/file/schema.js";
import { runShardgate } from "../support/ctl-runner.js";
import { startShardgate } from "../support/shardgate-process.js";

const STAGED = `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
pools:
  users:
    members:
      - { id: u1, address: 127.0.0.1:9 }
  staged:
    members:
      - { id: s1, address: 127.0.0.1:9 }
routes:
  - { pool: users, key: [header:x-user-id] }
`;

test("a pool no route names is a pool_without_route hint; routed pools are not", () => {
  const hints = configHints(configSchema.parse(parse(STAGED)));
  assert.deepEqual(
    hints.map((h) => h.check),
    ["pool_without_route"],
    hints.map((h) => h.text).join("\n"),
  );
  assert.match(hints[0].text, /^pools\.staged is not the pool of any route/);
});

test("validate prints it as a warning and exits 0", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-hints-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "c.yaml");
  writeFileSync(file, STAGED);
  const r = await runShardgate(["validate", "--config", file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok: 2 pools, 1 routes/);
  assert.match(r.stderr, /warning: pools\.staged is not the pool of any route/);
  assert.doesNotMatch(r.stderr, /pools\.users/);
});

test("two members of one pool at one address: a duplicate_member_address warning, exit 0", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-hints-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "c.yaml");
  writeFileSync(
    file,
    STAGED.replace(
      "      - { id: u1, address: 127.0.0.1:9 }",
      "      - { id: u1, address: 127.0.0.1:9 }\n      - { id: u2, address: 127.0.0.1:9 }",
    ).replace("routes:\n", "routes:\n  - { match: { pathPrefix: /staged }, pool: staged, key: [ip] }\n"),
  );
  const r = await runShardgate(["validate", "--config", file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok: 2 pools, 2 routes/);
  const warnings = r.stderr.split("\n").filter((l) => l.includes("warning:"));
  assert.deepEqual(
    warnings.map((l) => l.slice(l.indexOf("warning: ") + 9)),
    [
      "pools.users.members[1] (u2) has the address of members[0] (u1), 127.0.0.1:9: that upstream takes both members' keys (use weight to give it a larger share)",
    ],
    r.stderr,
  );
});

test("a pool with passiveEjection (read by nothing): a passive_ejection_unused warning, exit 0", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-hints-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "c.yaml");
  writeFileSync(
    file,
    STAGED.replace("  users:\n", "  users:\n    passiveEjection: { consecutiveFailures: 3 }\n").replace(
      "routes:\n",
      "routes:\n  - { match: { pathPrefix: /staged }, pool: staged, key: [ip] }\n",
    ),
  );
  const r = await runShardgate(["validate", "--config", file]);
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split("\n").filter((l) => l.includes("warning:"));
  assert.deepEqual(
    warnings.map((l) => l.slice(l.indexOf("warning: ") + 9)),
    [
      "pools.users.passiveEjection has no effect: a failing member is taken out by the pool's breaker (pools.users.breaker: consecutiveFailures, failureRate), for every instance of the fleet",
    ],
    r.stderr,
  );
});

test("an http2 section on an http1 pool (read by nothing): an http2_settings_unused warning, exit 0; none on an h2c pool", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-hints-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "c.yaml");
  writeFileSync(
    file,
    STAGED.replace("  users:\n", "  users:\n    http2: { maxSessions: 4 }\n")
      .replace("  staged:\n", "  staged:\n    protocol: h2c\n    http2: { maxSessions: 4 }\n")
      .replace("routes:\n", "routes:\n  - { match: { pathPrefix: /staged }, pool: staged, key: [ip] }\n"),
  );
  const r = await runShardgate(["validate", "--config", file]);
  assert.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split("\n").filter((l) => l.includes("warning:"));
  assert.deepEqual(
    warnings.map((l) => l.slice(l.indexOf("warning: ") + 9)),
    [
      "pools.users.http2 has no effect: the pool speaks HTTP/1.1 to its members (pools.users.protocol is absent or http1); set protocol to h2c or h2 for HTTP/2 sessions",
    ],
    r.stderr,
  );
});

test("start logs the same http2_settings_unused warning with its check field, and serves", async (t) => {
  const sg = await startShardgate(STAGED.replace("  users:\n", "  users:\n    http2: { maxSessions: 4 }\n"), {
    waitReady: false,
  });
  t.after(() => sg.stop());
  const hints = sg.proc.lines.filter((l) => l.check === "http2_settings_unused");
  assert.equal(hints.length, 1, sg.proc.output());
  assert.equal(hints[0].level, "warn");
  assert.match(String(hints[0].msg), /^pools\.users\.http2 has no effect: the pool speaks HTTP\/1\.1/);
});
