// RFC 7239 section 6: a `Forwarded: for=` node of "unknown" or an obfuscated identifier ("_x")
// names no client. From feature level 5 (LEVEL_FORWARDED_NOTHING) such a node, where the trusted
// walk stops, gives no ip key: the next key source decides, else the missing-key policy (nothing
// left of it is believed: it is not a trusted proxy). Below level 5 it is read as its text, as
// the level-4 build does (and level 3 by its frozen rules), so a mixed fleet routes alike.

import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import { configSchema } from "../../config/file/schema.js";
import { CURRENT_LEVEL, LEVEL_FORWARDED_NOTHING } from "../../config/raft/core/index.js";
import { keyRulesAt } from "../../proxy/cluster/committed-routing.js";
import { identifiesNothing } from "../../proxy/routing/forwarded.js";
import { compileKeyPlan, extractKey, type KeyRules } from "../../proxy/routing/key-extract.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(4515);
const random = seededRandom(SEED);

const POOLS = { p: { members: [{ id: "a", address: "127.0.0.1:1" }] } };
const plan = (key: string[], rules: KeyRules) =>
  compileKeyPlan(
    configSchema.parse({
      pools: POOLS,
      routes: [{ match: {}, pool: "p", key, trustedProxies: ["127.0.0.0/8", "10.0.0.0/8"] }],
    }).routes[0],
    rules,
  );

function req(forwarded: string, user?: string, peer = "127.0.0.1"): IncomingMessage {
  const headers: Record<string, string> = { forwarded };
  if (user !== undefined) headers["x-user-id"] = user;
  return { url: "/", headers, rawHeaders: [], socket: { remoteAddress: peer } } as unknown as IncomingMessage;
}

/** [Forwarded, what levels 3 and 4 read, what level 5 reads] for the ip key alone. */
const CASES: Array<[string, string, string]> = [
  ["for=unknown", "unknown", ""],
  ["for=UNKNOWN", "UNKNOWN", ""],
  ['for="unknown:4711"', "unknown", ""],
  ["for=_hidden", "_hidden", ""],
  ['for="_hidden:_port"', "_hidden", ""],
  ["for=_SEVKISEK.x-1", "_SEVKISEK.x-1", ""],
  // The walk stops at the right-most untrusted node: what a client wrote left of it is not believed.
  ["for=192.0.2.9, for=unknown", "unknown", ""],
  ["for=192.0.2.9, for=_p, for=10.1.2.3", "_p", ""],
  // A node that names nothing left of an address the walk stops at changes nothing.
  ["for=unknown, for=192.0.2.9", "192.0.2.9", "192.0.2.9"],
  ["for=_x, for=192.0.2.9, for=10.1.2.3", "192.0.2.9", "192.0.2.9"],
  // Names that only look alike are addresses' texts as before.
  ["for=unknownx", "unknownx", "unknownx"],
  ["for=192.0.2.9", "192.0.2.9", "192.0.2.9"],
];

test("an ip key: a Forwarded node that names nothing is its text at levels 3 and 4, absent from level 5", () => {
  assert.equal(keyRulesAt(LEVEL_FORWARDED_NOTHING - 1), "v4");
  assert.equal(keyRulesAt(LEVEL_FORWARDED_NOTHING), "v5");
  assert.ok(CURRENT_LEVEL >= LEVEL_FORWARDED_NOTHING, "this build has the level");
  for (const [fwd, old, now] of CASES) {
    assert.equal(extractKey(plan(["ip"], "v3"), req(fwd)), old, `v3: ${fwd}`);
    assert.equal(extractKey(plan(["ip"], "v4"), req(fwd)), old, `v4: ${fwd}`);
    assert.equal(extractKey(plan(["ip"], "v5"), req(fwd)), now, `v5: ${fwd}`);
  }
  // Without rules named, a plan reads by this build's (level 5).
  assert.equal(extractKey(compileKeyPlan(routeOf(["ip"])), req("for=unknown")), "");
});

function routeOf(key: string[]) {
  return configSchema.parse({
    pools: POOLS,
    routes: [{ match: {}, pool: "p", key, trustedProxies: ["127.0.0.0/8"] }],
  }).routes[0];
}

test("level 5: the next key source decides; an untrusted peer's Forwarded is never read", () => {
  for (let round = 0; round < 20; round++) {
    const user = `u${Math.floor(random() * 1e9).toString(36)}`;
    const note = `${user}; ${seedNote(SEED)}`;
    const fwd = random() < 0.5 ? "for=unknown" : `for=_h${Math.floor(random() * 1000)}`;
    assert.equal(extractKey(plan(["ip", "header:x-user-id"], "v5"), req(fwd, user)), user, note);
    assert.equal(extractKey(plan(["ip", "header:x-user-id"], "v4"), req(fwd, user)), fwd.slice(4), note);
    assert.equal(extractKey(plan(["ip"], "v5"), req(fwd, user, "192.0.2.50")), "192.0.2.50", note);
  }
  assert.equal(identifiesNothing("_"), true);
  assert.equal(identifiesNothing("unKnown"), true);
  assert.equal(identifiesNothing("192.0.2.1"), false);
  assert.equal(identifiesNothing(""), false);
});
