// The key spelling rules follow the committed cluster level (feature level 4, LEVEL_KEY_SPELLING):
// a plan compiled with the level-3 rules reads every spelling that s14 changed exactly as the
// previous build (d094413's key-extract.ts) did, and with the level-4 rules as this build does;
// CommittedRouting swaps the route table's plans when the level rises, and /admin/route's key
// text follows the same rules. Without sockets: requests are IncomingMessage-shaped objects.

import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import { configSchema } from "../../config/file/schema.js";
import { CURRENT_LEVEL, LEVEL_KEY_SPELLING } from "../../config/raft/core/index.js";
import { CommittedRouting, keyRulesAt } from "../../proxy/cluster/committed-routing.js";
import {
  CURRENT_KEY_RULES,
  compileKeyPlan,
  extractKey,
  type KeyRules,
} from "../../proxy/routing/key-extract.js";
import { canonicalKeyText } from "../../proxy/routing/key-text.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(4114);
const random = seededRandom(SEED);

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
function token(): string {
  let k = "";
  for (let n = 4 + Math.floor(random() * 6); n > 0; n--) k += ALNUM[Math.floor(random() * ALNUM.length)];
  return k;
}

const POOLS = { p: { members: [{ id: "a", address: "127.0.0.1:1" }] } };
function routeWith(key: string) {
  return configSchema.parse({
    pools: POOLS,
    routes: [{ match: {}, pool: "p", key: [key], trustedProxies: ["127.0.0.0/8"] }],
  }).routes[0];
}

interface Req {
  url: string;
  headers?: Record<string, string | string[]>;
  rawHeaders?: string[];
  h2?: boolean;
  peer?: string;
}
function req(r: Req): IncomingMessage {
  return {
    url: r.url,
    headers: r.headers ?? {},
    rawHeaders: r.rawHeaders ?? [],
    socket: { remoteAddress: r.peer ?? "127.0.0.1" },
    ...(r.h2 ? { stream: {} } : {}),
  } as unknown as IncomingMessage;
}

interface Case {
  spelling: string;
  source: string;
  req: Req;
  /** What d094413 (level 3) read. */
  v3: string;
  /** What this build reads (level 4). */
  v4: string;
}

function cases(k: string): Case[] {
  const hex = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join("");
  return [
    { spelling: "query name encoded", source: "query:user", req: { url: `/q?%75ser=${k}` }, v3: "", v4: k },
    {
      spelling: "query name encoded before the plain one",
      source: "query:user",
      req: { url: `/q?us%65r=${k}&user=zz` },
      v3: "zz",
      v4: k,
    },
    {
      spelling: "query bad escape",
      source: "query:user",
      req: { url: `/q?user=${k}%62%ZZ` },
      v3: `${k}%62%ZZ`,
      v4: `${k}b%ZZ`,
    },
    {
      spelling: "query %ff",
      source: "query:user",
      req: { url: `/q?user=${k}%ff` },
      v3: `${k}%ff`,
      v4: `${k}\ufffd`,
    },
    {
      spelling: "query value encoded",
      source: "query:user",
      req: { url: `/q?user=${hex(k)}` },
      v3: k,
      v4: k,
    },
    {
      spelling: "path segment encoded",
      source: "path:2",
      req: { url: `/p/${k}%21b` },
      v3: `${k}%21b`,
      v4: `${k}!b`,
    },
    {
      spelling: "path segment all escapes",
      source: "path:2",
      req: { url: `/p/${hex(k)}` },
      v3: hex(k),
      v4: k,
    },
    { spelling: "path segment plain", source: "path:2", req: { url: `/p/${k}/x` }, v3: k, v4: k },
    {
      spelling: "header sent twice (array)",
      source: "header:x-user-id",
      req: { url: "/h", headers: { "x-user-id": [k, "zz"] } },
      v3: k,
      v4: `${k}, zz`,
    },
    {
      spelling: "header:host upper case",
      source: "header:host",
      req: { url: "/h", headers: { host: `${k.toUpperCase()}.Keys.Test` } },
      v3: `${k.toUpperCase()}.Keys.Test`,
      v4: `${k.toLowerCase()}.keys.test`,
    },
    {
      spelling: "HTTP/2 single-line field sent twice",
      source: "header:range",
      req: { url: "/h", h2: true, headers: { range: k }, rawHeaders: ["range", k, "range", "zz"] },
      v3: k,
      v4: `${k}, zz`,
    },
    {
      spelling: "XFF IPv6 with brackets, port, upper case",
      source: "ip",
      req: { url: "/", headers: { "x-forwarded-for": "[2001:DB8::1]:443" } },
      v3: "[2001:DB8::1]:443",
      v4: "2001:db8::1",
    },
    {
      spelling: "XFF IPv4 with port",
      source: "ip",
      req: { url: "/", headers: { "x-forwarded-for": "203.0.113.9:8080" } },
      v3: "203.0.113.9:8080",
      v4: "203.0.113.9",
    },
    {
      spelling: "XFF uncompressed IPv6",
      source: "ip",
      req: { url: "/", headers: { "x-forwarded-for": "2001:db8:0:0:0:0:0:1" } },
      v3: "2001:db8:0:0:0:0:0:1",
      v4: "2001:db8::1",
    },
    {
      spelling: "XFF v4-mapped, upper case",
      source: "ip",
      req: { url: "/", headers: { "x-forwarded-for": "::FFFF:203.0.113.9" } },
      v3: "::FFFF:203.0.113.9",
      v4: "203.0.113.9",
    },
    {
      spelling: "XFF v4-mapped, lower case",
      source: "ip",
      req: { url: "/", headers: { "x-forwarded-for": "::ffff:203.0.113.9" } },
      v3: "203.0.113.9",
      v4: "203.0.113.9",
    },
    {
      spelling: "Forwarded IPv6 with port",
      source: "ip",
      req: { url: "/", headers: { forwarded: 'for="[2001:DB8::7]:80"' } },
      v3: "2001:DB8::7",
      v4: "2001:db8::7",
    },
    {
      spelling: "Forwarded behind a trusted hop",
      source: "ip",
      req: { url: "/", headers: { forwarded: "for=198.51.100.4, for=127.0.0.9" } },
      v3: "198.51.100.4",
      v4: "198.51.100.4",
    },
    {
      spelling: "cookie",
      source: "cookie:uid",
      req: { url: "/", headers: { cookie: `a=1; uid="${k}"` } },
      v3: k,
      v4: k,
    },
  ];
}

function read(c: Case, rules: KeyRules): string {
  return extractKey(compileKeyPlan(routeWith(c.source), rules), req(c.req));
}

test("a plan compiled at level 3 reads every spelling as the previous build did; at level 4 as now", () => {
  assert.equal(keyRulesAt(3), "v3");
  assert.equal(keyRulesAt(0), "v3", "a fleet with a released-level member");
  assert.equal(keyRulesAt(LEVEL_KEY_SPELLING), "v4");
  assert.ok(CURRENT_LEVEL >= LEVEL_KEY_SPELLING, "this build has the level");
  for (let round = 0; round < 20; round++) {
    const k = token();
    for (const c of cases(k)) {
      const note = `${c.spelling} (${c.source}, ${JSON.stringify(c.req)}); ${seedNote(SEED)}`;
      assert.equal(read(c, keyRulesAt(3)), c.v3, `level 3: ${note}`);
      assert.equal(read(c, keyRulesAt(CURRENT_LEVEL)), c.v4, `level ${CURRENT_LEVEL}: ${note}`);
    }
  }
  // Without rules named, a plan reads by the current ones (a standalone instance, rate limits).
  const c = cases("k1")[0];
  assert.equal(extractKey(compileKeyPlan(routeWith(c.source)), req(c.req)), c.v4);
});

test("CommittedRouting swaps the route table's plans when the rules change, keeping the pools", () => {
  const routing = new CommittedRouting(() => null, "v3");
  const config = configSchema.parse({
    pools: POOLS,
    routes: [{ match: {}, pool: "p", key: ["path:2"] }],
  });
  routing.applyProvisional(config);
  const before = routing.current();
  const r = req({ url: "/u/a%21b" });
  const route = (): NonNullable<ReturnType<typeof before.routeTable.match>> => {
    const m = routing.current().routeTable.match(undefined, "/u/a%21b");
    assert.ok(m !== null);
    return m;
  };
  assert.equal(before.routeTable.rules, "v3");
  assert.equal(extractKey(route().keyPlan, r), "a%21b");
  assert.equal(routing.setKeyRules("v3"), false, "same rules: nothing swapped");
  assert.equal(routing.current(), before);
  assert.equal(routing.setKeyRules(keyRulesAt(LEVEL_KEY_SPELLING)), true);
  const after = routing.current();
  assert.notEqual(after, before);
  assert.equal(after.pools, before.pools, "pools kept by reference");
  assert.equal(after.provisional, true, "still provisional");
  assert.equal(after.routeTable.rules, "v4");
  assert.equal(extractKey(route().keyPlan, r), "a!b");
  // A standalone instance's routing reads by the current rules from the start.
  const standalone = new CommittedRouting();
  standalone.applyProvisional(config);
  assert.equal(standalone.current().routeTable.rules, CURRENT_KEY_RULES);
});

test("/admin/route's key text follows the rules requests are read by", () => {
  const at = (given: string, source: string | null, rules: KeyRules) => {
    const t = canonicalKeyText(given, source, rules);
    assert.ok(t.ok);
    return t.key;
  };
  assert.equal(at("[2001:DB8::1]:443", "ip", "v4"), "2001:db8::1");
  assert.equal(at("[2001:DB8::1]:443", "ip", "v3"), "[2001:DB8::1]:443");
  assert.equal(at("::ffff:10.1.2.3", "ip", "v3"), "10.1.2.3");
  assert.equal(at("::ffff:10.1.2.3", null, "v3"), "10.1.2.3");
  assert.equal(at("2001:DB8::1", null, "v3"), "2001:DB8::1");
  assert.equal(at("2001:DB8::1", null, "v4"), "2001:db8::1");
  assert.equal(at("Api.Example", "header:host", "v3"), "Api.Example");
  assert.equal(at("Api.Example", "header:host", "v4"), "api.example");
  assert.equal(canonicalKeyText("x", "nonsense:", "v3").ok, false, "a bad source is refused at every level");
});
