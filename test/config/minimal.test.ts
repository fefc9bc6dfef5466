import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../config/file/load.js";
import { configSchema } from "../../config/file/schema.js";
import { MINIMAL } from "./fixtures.js";

test("the minimal file loads exactly as written with SHARDGATE_ADMIN_TOKEN unset", () => {
  const r = parseConfig(MINIMAL, {}, "minimal.yaml");
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.errors));
  const c = r.config;
  assert.deepEqual(c.listen.http, { host: "127.0.0.1", port: 8080 });
  assert.deepEqual(c.listen.admin, { host: "127.0.0.1", port: 9901 });
  assert.equal(c.admin.token, "");
  const users = c.pools.users;
  assert.equal(users.algorithm, "ring");
  assert.deepEqual(users.members, [
    { id: "u1", address: { host: "127.0.0.1", port: 9101 }, weight: 1 },
    { id: "u2", address: { host: "127.0.0.1", port: 9102 }, weight: 2 },
    { id: "u3", address: { host: "127.0.0.1", port: 9103 }, weight: 1 },
  ]);
  assert.equal(users.healthCheck?.path, "/health");
  assert.equal(users.healthCheck?.interval, 2000);
  assert.equal(c.routes.length, 1);
  assert.deepEqual(c.routes[0].match, { host: { kind: "any" }, pathPrefix: "/" });
  assert.equal(c.routes[0].pool, "users");
  assert.deepEqual(c.routes[0].key, [
    { kind: "header", name: "x-user-id" },
    { kind: "cookie", name: "uid" },
    { kind: "ip" },
  ]);
  assert.equal(c.routes[0].onMissingKey, "random");
});

test("the minimal file takes the admin token from the environment when set", () => {
  const r = parseConfig(MINIMAL, { SHARDGATE_ADMIN_TOKEN: "s3cret-token-0123456789" }, "minimal.yaml");
  assert.ok(r.ok);
  assert.equal(r.config.admin.token, "s3cret-token-0123456789");
});

test("the schema is idempotent: a normalized config parses to itself", () => {
  const r = parseConfig(MINIMAL, { SHARDGATE_ADMIN_TOKEN: "t-0123456789abcdef" }, "minimal.yaml");
  assert.ok(r.ok);
  const again = configSchema.safeParse(r.config);
  assert.ok(again.success, again.success ? "" : JSON.stringify(again.error.issues));
  assert.deepEqual(again.data, r.config);
});
