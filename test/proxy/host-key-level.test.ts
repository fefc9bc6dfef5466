// Feature level 6 (LEVEL_HOST_KEY): a `header:host` key (`:authority` on HTTP/2, which the data
// plane hands on as Host) is one text for every spelling of one authority: the listener's default
// port (80 plain, 443 TLS) and a trailing dot dropped, case folded. Below level 6 it is only
// lower-cased (levels 4 and 5) or taken as sent (level 3), as those builds read it, so a mixed
// fleet routes alike until the level commits. /admin/route's key text follows the same rules, and
// a rate limit keyed on the host counts every spelling in one bucket from level 6 on.
// Without sockets: requests are IncomingMessage-shaped objects (test/outside/host-key-carriers
// sends the spellings over real plain, TLS, h2c and h2 connections). Level 7 drops 80 and 443 on
// every listener: test/proxy/host-key-ports.test.ts.

import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import { configSchema } from "../../config/file/schema.js";
import { CURRENT_LEVEL, LEVEL_HOST_KEY } from "../../config/raft/core/index.js";
import { keyRulesAt } from "../../proxy/cluster/committed-routing.js";
import { hostKeyText, hostKeyTextV6 } from "../../proxy/routing/host-key.js";
import {
  CURRENT_KEY_RULES,
  compileKeyPlan,
  extractKey,
  type KeyRules,
} from "../../proxy/routing/key-extract.js";
import { canonicalKeyText } from "../../proxy/routing/key-text.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(4616);
const random = seededRandom(SEED);

const POOLS = { p: { members: [{ id: "a", address: "127.0.0.1:1" }] } };
const plan = (key: string[], rules: KeyRules) =>
  compileKeyPlan(
    configSchema.parse({ pools: POOLS, routes: [{ match: {}, pool: "p", key }] }).routes[0],
    rules,
  );

function req(host: string | undefined, tls: boolean, user?: string): IncomingMessage {
  const headers: Record<string, string> = {};
  if (host !== undefined) headers.host = host;
  if (user !== undefined) headers["x-user-id"] = user;
  const socket = tls ? { remoteAddress: "127.0.0.1", encrypted: true } : { remoteAddress: "127.0.0.1" };
  return { url: "/", headers, rawHeaders: [], socket } as unknown as IncomingMessage;
}

const LOWER = "abcdefghijklmnopqrstuvwxyz";
function label(): string {
  let s = "";
  for (let n = 2 + Math.floor(random() * 6); n > 0; n--) s += LOWER[Math.floor(random() * LOWER.length)];
  return s;
}
/** `s` with each letter upper-cased by a coin toss. */
function mixedCase(s: string): string {
  let out = "";
  for (const c of s) out += random() < 0.5 ? c.toUpperCase() : c;
  return out;
}

/** Seeded spellings of one authority `host` (canonical, lower case) on a listener of `defaultPort`. */
function spellings(host: string, defaultPort: number): string[] {
  const dot = host.startsWith("[") ? "" : ".";
  return [
    host,
    `${host}:${defaultPort}`,
    `${host}${dot}`,
    `${host}${dot}:${defaultPort}`,
    `${host}:`,
    `${host}:0${defaultPort}`,
    mixedCase(`${host}${dot}:${defaultPort}`),
    mixedCase(host),
  ];
}

function hosts(): string[] {
  return [
    `${label()}.${label()}.test`,
    `${label()}`,
    `192.0.2.${Math.floor(random() * 256)}`,
    `[2001:db8::${Math.floor(random() * 0xffff).toString(16)}]`,
    "[::1]",
  ];
}

test("the host key's rules by level: lower-cased at 4 and 5, one text per authority from 6", () => {
  assert.equal(keyRulesAt(LEVEL_HOST_KEY - 1), "v5");
  assert.equal(keyRulesAt(LEVEL_HOST_KEY), "v6");
  assert.ok(CURRENT_LEVEL >= LEVEL_HOST_KEY, "this build has the level");
  assert.equal(CURRENT_KEY_RULES, keyRulesAt(CURRENT_LEVEL), "standalone reads by this level's rules");
  for (let round = 0; round < 20; round++) {
    for (const host of hosts()) {
      for (const [tls, port, other] of [
        [false, 80, 443],
        [true, 443, 80],
      ] as const) {
        for (const spelling of spellings(host, port)) {
          const note = `${spelling} on ${tls ? "TLS" : "plain"} (${seedNote(SEED)})`;
          assert.equal(extractKey(plan(["header:host"], "v6"), req(spelling, tls)), host, `v6: ${note}`);
          for (const rules of ["v4", "v5"] as const)
            assert.equal(
              extractKey(plan(["header:host"], rules), req(spelling, tls)),
              spelling.toLowerCase(),
              `${rules}: ${note}`,
            );
          assert.equal(extractKey(plan(["header:host"], "v3"), req(spelling, tls)), spelling, `v3: ${note}`);
        }
        // The other scheme's default port, and any other port, stay part of the key.
        for (const p of [other, 8080, 1 + Math.floor(random() * 65535)].filter((n) => n !== port)) {
          const note = `${host}:${p} on ${tls ? "TLS" : "plain"} (${seedNote(SEED)})`;
          for (const spelling of [`${host}:${p}`, `${host}:0${p}`, mixedCase(`${host}:${p}`)])
            assert.equal(extractKey(plan(["header:host"], "v6"), req(spelling, tls)), `${host}:${p}`, note);
        }
      }
    }
  }
});

test("text that is no host[:port] is only lower-cased; an empty authority is a missing key; other headers stay", () => {
  for (const [given, key] of [
    ["A:B:80", "a:b:80"],
    ["h.test:8o", "h.test:8o"],
    ["h.test:99999", "h.test:99999"],
    ["[::1", "[::1"],
    ["[::1]x", "[::1]x"],
    ["[::1].", "[::1]."],
    [".", "."],
    ["h.test..", "h.test."],
    [":80", ""],
  ] as const) {
    assert.equal(hostKeyTextV6(given, 80), key, given);
    assert.equal(hostKeyText(given), key, `${given} at level 7`);
  }
  // No Host at all, or one that leaves nothing: the next source decides.
  assert.equal(extractKey(plan(["header:host", "header:x-user-id"], "v6"), req(":80", false, "u7")), "u7");
  assert.equal(extractKey(plan(["header:host", "header:x-user-id"], "v6"), req(undefined, true, "u8")), "u8");
  assert.equal(extractKey(plan(["header:host", "header:x-user-id"], "v5"), req(":80", false, "u7")), ":80");
  // Level 6 changes the host key only: another header keeps a port and a trailing dot.
  const r = { url: "/", headers: { "x-host": "H.test.:80" }, rawHeaders: [], socket: {} };
  for (const rules of ["v4", "v5", "v6"] as const)
    assert.equal(extractKey(plan(["header:x-host"], rules), r as unknown as IncomingMessage), "H.test.:80");
});

test("/admin/route's host key text follows the rules requests are read by", () => {
  const at = (given: string, rules: KeyRules, port?: number) => {
    const t = canonicalKeyText(given, "header:host", rules, port);
    assert.ok(t.ok);
    return t.key;
  };
  for (const host of hosts()) {
    for (const spelling of spellings(host, 80)) {
      assert.equal(at(spelling, "v6"), host, `${spelling} (${seedNote(SEED)})`);
      assert.equal(at(spelling, "v5"), spelling.toLowerCase(), spelling);
      assert.equal(at(spelling, "v3"), spelling, spelling);
    }
    for (const spelling of spellings(host, 443)) assert.equal(at(spelling, "v6", 443), host, spelling);
    assert.equal(at(`${host}:443`, "v6"), `${host}:443`, "443 on a plain listener is a port of the key");
  }
  assert.equal(at("Api.Example.:80", CURRENT_KEY_RULES), "api.example", "the default is this build's rules");
});
