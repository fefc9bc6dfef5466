import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../config/file/load.js";
import { configSchema } from "../../config/file/schema.js";
import { ISSUE_13_EXAMPLE, issueExampleWithPool } from "./fixtures.js";

const POOL = `pools:
  users:
    members: [{ id: a, address: "10.0.0.1:80" }]
`;

function errorsOf(text: string) {
  const r = parseConfig(text, {}, "t.yaml");
  assert.ok(!r.ok, `expected errors for:\n${text}`);
  return r.errors;
}

test("the issue's example validates as written and normalizes units", () => {
  const r = parseConfig(POOL + ISSUE_13_EXAMPLE, {}, "example.yaml");
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.errors));
  const c = r.config;
  assert.equal(c.redis?.url, "redis://127.0.0.1:6379");
  assert.equal(c.redis?.keyPrefix, "sg:");
  assert.equal(c.redis?.commandTimeout, 250);
  const [api, stat] = c.routes;
  assert.deepEqual(
    { store: api.affinity?.store, ttl: api.affinity?.ttl, mode: api.affinity?.mode },
    { store: "redis", ttl: 1_800_000, mode: "sticky" },
  );
  assert.deepEqual(api.rateLimit, {
    limit: 100,
    window: 1000,
    burst: 100,
    store: "redis",
    onStoreError: "open",
  });
  assert.equal(stat.cache?.maxBytes, 1024 * 1024);
  assert.equal(stat.affinity, undefined);
  assert.equal(stat.rateLimit, undefined);
  // Replicated routing is re-validated: the normalized value must parse to itself.
  const again = configSchema.safeParse(c);
  assert.ok(again.success, again.success ? "" : JSON.stringify(again.error.issues));
  assert.deepEqual(again.data, c);
});

test("the example with real ports validates too (what the process tests run)", () => {
  const r = parseConfig(issueExampleWithPool([{ id: "u1", port: 1 }], "redis://127.0.0.1:7"), {}, "x.yaml");
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.errors));
});

test("features kept in Redis without a redis section are refused, naming the route field", () => {
  const text = `${POOL}routes:
  - pool: users
    key: [ip]
    rateLimit: { limit: 5 }
    cache: {}
`;
  const paths = errorsOf(text).map((e) => e.path);
  assert.ok(paths.includes("routes[0].rateLimit"), paths.join());
  assert.ok(paths.includes("routes[0].cache"), paths.join());
});

test("cookie affinity needs no redis section", () => {
  const r = parseConfig(
    `${POOL}routes:\n  - pool: users\n    key: [ip]\n    affinity: { cookie: { name: sg_aff, ttl: 1h, sameSite: strict } }\n`,
    {},
    "t.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.errors));
  assert.equal(r.config.routes[0].affinity?.cookie?.ttl, 3_600_000);
  assert.equal(r.config.routes[0].affinity?.drainDeadline, 300_000);
});

const BAD: Array<{ name: string; route: string; path: RegExp; redis?: string }> = [
  { name: "affinity with neither cookie nor store", route: "affinity: { ttl: 5m }", path: /affinity/ },
  {
    name: "affinity with both cookie and store",
    route: "affinity: { store: redis, cookie: {} }",
    path: /affinity/,
  },
  {
    name: "unknown affinity mode",
    route: "affinity: { store: redis, mode: random }",
    path: /affinity\.mode/,
  },
  { name: "store other than redis", route: "affinity: { store: memcached }", path: /affinity\.store/ },
  {
    name: "localTtl above ttl",
    route: "affinity: { store: redis, ttl: 1s, localTtl: 5s }",
    path: /localTtl/,
  },
  { name: "rate limit without limit", route: "rateLimit: { window: 1s }", path: /rateLimit\.limit/ },
  { name: "rate limit of zero", route: "rateLimit: { limit: 0 }", path: /rateLimit\.limit/ },
  {
    name: "bad rate limit window",
    route: "rateLimit: { limit: 1, window: soon }",
    path: /rateLimit\.window/,
  },
  {
    name: "bad onStoreError",
    route: "rateLimit: { limit: 1, onStoreError: maybe }",
    path: /rateLimit\.onStoreError/,
  },
  { name: "bad rate limit key", route: "rateLimit: { limit: 1, key: [nope:x] }", path: /rateLimit\.key/ },
  { name: "bad cache size", route: "cache: { maxBytes: lots }", path: /cache\.maxBytes/ },
  { name: "unknown cache field", route: "cache: { ttl: 1s }", path: /cache/ },
  { name: "sameSite none without secure", route: "affinity: { cookie: { sameSite: none } }", path: /secure/ },
  { name: "bad redis url", route: "cache: {}", path: /redis\.url/, redis: "redis: { url: http://x }" },
  {
    name: "bad key prefix",
    route: "cache: {}",
    path: /redis\.keyPrefix/,
    redis: 'redis: { keyPrefix: "a{b}" }',
  },
];

for (const c of BAD) {
  test(`refused with a path-named error: ${c.name}`, () => {
    const text = `${c.redis ?? "redis: {}"}\n${POOL}routes:\n  - pool: users\n    key: [ip]\n    ${c.route}\n`;
    const errors = errorsOf(text);
    assert.ok(
      errors.some((e) => c.path.test(e.path)),
      `no error at ${c.path}: ${JSON.stringify(errors)}`,
    );
  });
}
