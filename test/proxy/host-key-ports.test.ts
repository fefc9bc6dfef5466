// Feature level 7 (LEVEL_HOST_KEY_PORTS): a `header:host` key drops port 80 and port 443 whichever
// listener read the request, so the same Host is one text on a plain and on a TLS instance of one
// fleet (level 6 dropped only the listener's own default port: `h:443` was `h` on TLS and `h:443`
// on plain, two members for one client). Any other port stays part of the key. Below level 7 the
// level-6 reading holds, so a fleet mid-upgrade routes alike; /admin/route answers the same text
// whatever the instance's listener. Without sockets: requests are IncomingMessage-shaped objects
// (test/outside/host-key-carriers.test.ts sends them to real plain and TLS processes).

import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import { configSchema } from "../../config/file/schema.js";
import { CURRENT_LEVEL, LEVEL_HOST_KEY_PORTS } from "../../config/raft/core/index.js";
import { keyRulesAt } from "../../proxy/cluster/committed-routing.js";
import { hostKeyText, hostKeyTextV6 } from "../../proxy/routing/host-key.js";
import {
  CURRENT_KEY_RULES,
  compileKeyPlan,
  extractKey,
  type KeyRules,
} from "../../proxy/routing/key-extract.js";
import { canonicalKeyText } from "../../proxy/routing/key-text.js";
import { h2TargetError } from "../../proxy/server/request-target.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(4707);
const random = seededRandom(SEED);

const POOLS = { p: { members: [{ id: "a", address: "127.0.0.1:1" }] } };
const plan = (rules: KeyRules) =>
  compileKeyPlan(
    configSchema.parse({ pools: POOLS, routes: [{ match: {}, pool: "p", key: ["header:host"] }] }).routes[0],
    rules,
  );

function req(host: string, tls: boolean): IncomingMessage {
  const socket = tls ? { remoteAddress: "127.0.0.1", encrypted: true } : { remoteAddress: "127.0.0.1" };
  return { url: "/", headers: { host }, rawHeaders: [], socket } as unknown as IncomingMessage;
}

const LOWER = "abcdefghijklmnopqrstuvwxyz";
function label(): string {
  let s = "";
  for (let n = 2 + Math.floor(random() * 6); n > 0; n--) s += LOWER[Math.floor(random() * LOWER.length)];
  return s;
}
function mixedCase(s: string): string {
  let out = "";
  for (const c of s) out += random() < 0.5 ? c.toUpperCase() : c;
  return out;
}
function hosts(): string[] {
  return [
    `${label()}.${label()}.test`,
    label(),
    `192.0.2.${Math.floor(random() * 256)}`,
    `[2001:db8::${Math.floor(random() * 0xffff).toString(16)}]`,
  ];
}
/** Seeded spellings of `host` with port `port`: as is, zero-padded, with a trailing dot, any case. */
function withPort(host: string, port: number): string[] {
  const dot = host.startsWith("[") ? "" : ".";
  return [
    `${host}:${port}`,
    `${host}:0${port}`,
    `${host}${dot}:${port}`,
    mixedCase(`${host}${dot}:00${port}`),
  ];
}
/** A port that is neither 80 nor 443. */
function otherPort(): number {
  for (;;) {
    const p = 1 + Math.floor(random() * 65535);
    if (p !== 80 && p !== 443) return p;
  }
}

test("the host key's rules by level: the listener's default port at 6, 80 and 443 on every listener from 7", () => {
  assert.equal(keyRulesAt(LEVEL_HOST_KEY_PORTS - 1), "v6");
  assert.equal(keyRulesAt(LEVEL_HOST_KEY_PORTS), "v7");
  assert.ok(CURRENT_LEVEL >= LEVEL_HOST_KEY_PORTS, "this build has the level");
  assert.equal(CURRENT_KEY_RULES, keyRulesAt(CURRENT_LEVEL), "standalone reads by this level's rules");
});

test("from level 7 one Host is one key on a plain and a TLS listener; other ports stay", () => {
  let apart6 = 0;
  for (let round = 0; round < 20; round++) {
    for (const host of hosts()) {
      for (const port of [80, 443]) {
        for (const spelling of withPort(host, port)) {
          const note = `${spelling} (${seedNote(SEED)})`;
          const plain = extractKey(plan("v7"), req(spelling, false));
          const tls = extractKey(plan("v7"), req(spelling, true));
          assert.equal(plain, host, `v7 on plain: ${note}`);
          assert.equal(tls, host, `v7 on TLS: ${note}`);
          // Level 6 (the fleet below level 7) keeps the listener's own default port only.
          const plain6 = extractKey(plan("v6"), req(spelling, false));
          const tls6 = extractKey(plan("v6"), req(spelling, true));
          assert.equal(plain6, port === 80 ? host : `${host}:443`, `v6 on plain: ${note}`);
          assert.equal(tls6, port === 443 ? host : `${host}:80`, `v6 on TLS: ${note}`);
          if (plain6 !== tls6) apart6++;
        }
      }
      for (const p of [8080, 8443, otherPort()]) {
        for (const spelling of withPort(host, p)) {
          const note = `${spelling} (${seedNote(SEED)})`;
          assert.equal(extractKey(plan("v7"), req(spelling, false)), `${host}:${p}`, `v7 on plain: ${note}`);
          assert.equal(extractKey(plan("v7"), req(spelling, true)), `${host}:${p}`, `v7 on TLS: ${note}`);
        }
      }
    }
  }
  assert.ok(apart6 > 0, `level 6 reads some spelling apart on the two listeners (${seedNote(SEED)})`);
});

test("hostKeyText is level 6's text with 80 dropped and then 443, on any input", () => {
  const odd = [
    "h:",
    "h.:00080",
    "h:00",
    "h:0",
    ".",
    "[::1]",
    "[::1]:443",
    "[::1]:0443",
    "a:b:443",
    "h:65979",
    "h:+443",
  ];
  const given = odd.concat(
    hosts().flatMap((h) => [h, ...withPort(h, 80), ...withPort(h, 443), ...withPort(h, otherPort())]),
  );
  for (const v of given)
    assert.equal(hostKeyText(v), hostKeyTextV6(hostKeyTextV6(v, 80), 443), `${v} (${seedNote(SEED)})`);
  // Text that is no host[:port] is only lower-cased, as at level 6.
  assert.equal(hostKeyText("A:B:443"), "a:b:443");
  assert.equal(hostKeyText("H:+443"), "h:+443");
  assert.equal(hostKeyText(":443"), "");
});

test("an HTTP/2 Host beside :authority is let through only when both are one host key from level 7", () => {
  // The Host wins over :authority (h2-request.ts) while a log or the upstream may read the other:
  // every pair the stream check lets through must hash alike, or one request is two keys.
  const spellings = ["h", "H", "h.", "[::1]", "[::1]."].flatMap((h) =>
    ["", ":", ":80", ":080", ":443", ":0443", ":8080", ":0", ":65536"].map((p) => h + p),
  );
  let passed = 0;
  for (const scheme of ["http", "https"])
    for (const authority of spellings)
      for (const host of spellings) {
        const r = { headers: { ":path": "/", ":scheme": scheme, ":authority": authority, host } };
        if (h2TargetError(r as never) !== null) continue;
        passed++;
        assert.equal(
          hostKeyText(host),
          hostKeyText(authority),
          `${scheme} Host ${host} :authority ${authority}`,
        );
      }
  // The check lets through more than identical text (h:443 beside h on https), so this asks something.
  assert.ok(passed > 2 * spellings.length, `${passed} pairs let through`);
});

test("/admin/route answers one host key text whatever the instance's listener from level 7", () => {
  const at = (given: string, rules: KeyRules, port: number) => {
    const t = canonicalKeyText(given, "header:host", rules, port);
    assert.ok(t.ok);
    return t.key;
  };
  for (const host of hosts()) {
    for (const spelling of [...withPort(host, 80), ...withPort(host, 443)]) {
      assert.equal(at(spelling, "v7", 80), host, `${spelling} (${seedNote(SEED)})`);
      assert.equal(at(spelling, "v7", 443), host, `${spelling} (${seedNote(SEED)})`);
    }
    assert.equal(at(`${host}:443`, "v6", 80), `${host}:443`, "level 6 keeps the plain listener's reading");
    assert.equal(at(`${host}:80`, "v6", 443), `${host}:80`, "level 6 keeps the TLS listener's reading");
    assert.equal(at(`${host}:8443`, "v7", 443), `${host}:8443`);
  }
});
