// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests write ${VAR} references literally

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../config/file/load.js";

const ROUTE = "routes:\n  - pool: p\n    key: [ip]\n";

function withMember(address: string, extra = ""): string {
  return `pools:\n  p:\n    members:\n      - id: a\n        address: ${address}\n${extra}${ROUTE}`;
}

test("${VAR} is replaced inside string values, also mid-string", () => {
  const r = parseConfig(withMember("${HOST}:${PORT}"), { HOST: "10.1.2.3", PORT: "8081" });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.deepEqual(r.config.pools.p.members[0].address, { host: "10.1.2.3", port: 8081 });
});

test("${VAR:-default} uses the default when VAR is unset or empty", () => {
  for (const env of [{}, { HOST: "" }]) {
    const r = parseConfig(withMember("${HOST:-127.0.0.1}:9000"), env);
    assert.ok(r.ok, JSON.stringify(env));
    assert.equal(r.config.pools.p.members[0].address.host, "127.0.0.1");
  }
  const set = parseConfig(withMember("${HOST:-127.0.0.1}:9000"), { HOST: "db" });
  assert.ok(set.ok);
  assert.equal(set.config.pools.p.members[0].address.host, "db");
});

test("an unset variable becomes empty and the field's error names the path and the variable", () => {
  const r = parseConfig(withMember("${UPSTREAM_ADDR}"), {});
  assert.ok(!r.ok);
  assert.equal(r.errors.length, 1);
  const [e] = r.errors;
  assert.equal(e.path, "pools.p.members[0].address");
  assert.match(e.message, /environment variable UPSTREAM_ADDR is not set/);
  assert.equal(e.line, 5);
});

test("an unset variable is fine where an empty string is valid (admin.token)", () => {
  const r = parseConfig(`admin: { token: "\${NOPE}" }\n${withMember("h:1")}`, {});
  assert.ok(r.ok);
  assert.equal(r.config.admin.token, "");
});

test("$${ is a literal ${", () => {
  // Padded to admin.token's 16-byte floor.
  const r = parseConfig(`admin: { token: "a$\${B}c-0123456789" }\n${withMember("h:1")}`, { B: "x" });
  assert.ok(r.ok);
  assert.equal(r.config.admin.token, "a${B}c-0123456789");
});

test("a malformed reference is an error naming the path", () => {
  for (const bad of ["${}", "${1ABC}", "${OPEN", "${A B}"]) {
    const r = parseConfig(`admin: { token: "${bad}" }\n${withMember("h:1")}`, { A: "1" });
    assert.ok(!r.ok, bad);
    assert.equal(r.errors[0].path, "admin.token", bad);
    assert.match(r.errors[0].expected, /NAME:-default/);
  }
});

test("a substituted value takes the type the field expects", () => {
  const text = `log: { accessLog: "\${ACCESS}" }\npools:\n  p:\n    members: [{ id: a, address: "h:1", weight: "\${W}" }]\n    balanceFactor: \${BF}\n${ROUTE}`;
  const r = parseConfig(text, { W: "3", ACCESS: "false", BF: "1.5" });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.equal(r.config.pools.p.members[0].weight, 3);
  assert.equal(r.config.pools.p.balanceFactor, 1.5);
  assert.equal(r.config.log.accessLog, false);
  const bad = parseConfig(text, { W: "three", ACCESS: "false", BF: "1.5" });
  assert.ok(!bad.ok);
  assert.equal(bad.errors[0].path, "pools.p.members[0].weight");
});

test("a number written literally in YAML stays a type error for string fields", () => {
  const r = parseConfig(`admin: { token: 12345 }\n${withMember("h:1")}`, {});
  assert.ok(!r.ok);
  assert.equal(r.errors[0].path, "admin.token");
});

test("keys are never interpolated", () => {
  const r = parseConfig(`pools:\n  \${P}:\n    members: [{ id: a, address: "h:1" }]\n${ROUTE}`, { P: "p" });
  assert.ok(!r.ok);
  assert.ok(
    r.errors.some((e) => e.path.includes("${P}")),
    JSON.stringify(r.errors),
  );
});
