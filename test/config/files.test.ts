import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadConfigFile } from "../../config/file/load.js";
import { BARE, MINIMAL } from "./fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "sg-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("loadConfigFile reads a file and resolves relative paths against its folder", async () => {
  const path = join(dir, "ok.yaml");
  writeFileSync(path, `${BARE}cluster: { id: n1, dataDir: state }\n`);
  const r = await loadConfigFile(path, {});
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.equal(r.config.cluster?.dataDir, join(dir, "state"));
});

test("the minimal file loads from disk with an empty environment", async () => {
  const path = join(dir, "minimal.yaml");
  writeFileSync(path, MINIMAL);
  const r = await loadConfigFile(path, {});
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
});

test("a missing file is an error, not an exception", async () => {
  const r = await loadConfigFile(join(dir, "nope.yaml"), {});
  assert.ok(!r.ok);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0].found, /ENOENT/);
  assert.match(r.errors[0].message, /no such file/);
});

test("a directory is an error, not an exception", async () => {
  const r = await loadConfigFile(dir, {});
  assert.ok(!r.ok);
  assert.match(r.errors[0].found, /ENOTREG/);
  assert.match(r.errors[0].message, /not a regular file \(a directory\)/);
});

test("an unreadable file is an error, not an exception (as root: checked as nobody)", async () => {
  const path = join(dir, "secret.yaml");
  writeFileSync(path, BARE);
  chmodSync(path, 0o000);
  if (process.getuid?.() !== 0) {
    const r = await loadConfigFile(path, {});
    assert.ok(!r.ok);
    assert.match(r.errors[0].found, /EACCES/);
    return;
  }
  // Root reads everything (CI runs as root): load it from a child running as nobody, which may
  // enter the folder but not read the file.
  chmodSync(dir, 0o755);
  const loader = new URL("../../config/file/load.js", import.meta.url).href;
  const script = `const { loadConfigFile } = await import(${JSON.stringify(loader)});
process.stdout.write(JSON.stringify(await loadConfigFile(${JSON.stringify(path)}, {})));`;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    uid: 65534,
    gid: 65534,
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.equal(child.status, 0, child.stderr);
  const r = JSON.parse(child.stdout) as { ok: boolean; errors: Array<{ found: string }> };
  assert.ok(!r.ok);
  assert.match(r.errors[0].found, /EACCES/);
});

test("TLS cert and key must be readable files at load time", async () => {
  writeFileSync(join(dir, "cert.pem"), "not really a cert");
  const path = join(dir, "tls.yaml");
  writeFileSync(path, `listen:\n  tls: { cert: cert.pem, key: missing-key.pem }\n${BARE}`);
  const r = await loadConfigFile(path, {});
  assert.ok(!r.ok);
  assert.deepEqual(
    r.errors.map((e) => e.path),
    ["listen.tls.key"],
  );
  assert.match(r.errors[0].found, /ENOENT/);
  assert.equal(r.errors[0].line, 2);

  writeFileSync(join(dir, "missing-key.pem"), "not really a key");
  const ok = await loadConfigFile(path, {});
  assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.errors));
  assert.equal(ok.config.listen.tls?.cert, join(dir, "cert.pem"));
  assert.equal(ok.config.listen.tls?.key, join(dir, "missing-key.pem"));
});
