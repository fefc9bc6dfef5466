// At feature level 5 a `Forwarded: for=unknown` (or obfuscated `for=_x`) node from a trusted proxy
// is no ip key: the request's key is missing and the route's onMissingKey decides. /admin/route,
// /admin/routes and `ctl route` asked about that text with `source=ip` still hashed "unknown" and
// named a member no such request ever reaches. Tried on a real shardgate (standalone: level 5):
// the request is refused 400 (onMissingKey: reject) and the admin answers must say so (no member,
// the routes' policy); an address still names the member its client is served by. At level 4 the
// node is the key text "unknown", and the admin answer keeps hashing it (checked on the key text).

import assert from "node:assert/strict";
import { after, before, describe, it, test } from "node:test";
import { canonicalKeyText } from "../../proxy/routing/key-text.js";
import { runCtl } from "../support/ctl-runner.js";
import { type MemberServer, rawH1, startNamingMember } from "../support/key-carriers.js";
import { namingPoolConfig } from "../support/naming-pool-config.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { fetchJson, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

const SEED = testSeed(7171);
const members: MemberServer[] = [];
let sg: RunningShardgate;
let port = 0;

/** Texts a trusted proxy may write as a for= node that identifies nobody (RFC 7239 section 6). */
const NOTHING = ["unknown", "UNKNOWN", "Unknown:4711", "_hidden", "_h:_p"];

interface Answer {
  key?: string;
  hashedAs?: string;
  member: string | null;
  keyHash: number;
  onMissingKey?: Array<{ route: string; policy: string }>;
  note?: string;
}

function yaml(): string {
  return namingPoolConfig(members, [
    '{ match: { pathPrefix: /i/ }, pool: users, key: [ip], onMissingKey: reject, trustedProxies: ["127.0.0.0/8"] }',
  ]);
}

async function adminRoute(key: string): Promise<Answer> {
  const q = `pool=users&source=ip&key=${encodeURIComponent(key)}`;
  const r = await fetchJson(`${sg.adminUrl}/admin/route?${q}`);
  assert.equal(r.status, 200, `/admin/route?${q}: ${r.text}`);
  return r.body as Answer;
}

function assertMissing(a: Answer, what: string): void {
  assert.equal(a.member, null, `${what}: no member (${JSON.stringify(a)})`);
  assert.equal(a.keyHash, -1, `${what}: nothing hashed`);
  assert.deepEqual(
    a.onMissingKey?.map((m) => m.policy),
    ["reject"],
    `${what}: the route's missing-key policy`,
  );
}

test("the key text of an ip key that identifies nothing: none at v5, its text at v4 and v3", () => {
  for (const given of NOTHING) {
    const v5 = canonicalKeyText(given, "ip", "v5");
    assert.ok(v5.ok && v5.key === "" && v5.why !== undefined, `${given} at v5: ${JSON.stringify(v5)}`);
    for (const rules of ["v4", "v3"] as const) {
      const t = canonicalKeyText(given, "ip", rules);
      assert.ok(t.ok && t.key === given && t.why === undefined, `${given} at ${rules}: ${JSON.stringify(t)}`);
    }
    // Without a source (or as another source's value) the text is a key like any other.
    const asHeader = canonicalKeyText(given, "header:x-user-id", "v5");
    assert.ok(asHeader.ok && asHeader.key === given, `${given} as a header key`);
    const noSource = canonicalKeyText(given, null, "v5");
    assert.ok(noSource.ok && noSource.key === given, `${given} without a source`);
  }
  // Addresses (and a name that merely contains "unknown") stay keys.
  for (const given of ["192.0.2.7", "2001:db8::1", "unknownhost", "x_y"]) {
    const t = canonicalKeyText(given, "ip", "v5");
    assert.ok(t.ok && t.key !== "" && t.why === undefined, `${given}: ${JSON.stringify(t)}`);
  }
});

describe(`admin answer for an ip key that identifies nothing (${seedNote(SEED)})`, {
  timeout: 300_000,
}, () => {
  before(async () => {
    for (let i = 1; i <= 5; i++) members.push(await startNamingMember(`m${i}`));
    sg = await startShardgate(yaml());
    port = Number(/(\d+)$/.exec(sg.httpUrl)?.[1]);
  });
  after(async () => {
    await stopAll();
    await Promise.all(members.map((m) => m.close()));
  });

  it("/admin/route and /admin/routes say what the request does: the missing-key policy", async () => {
    for (const node of NOTHING) {
      const what = `Forwarded: for="${node}" (${seedNote(SEED)})`;
      const served = await rawH1(port, "/i/x", [`Forwarded: for="${node}"`]);
      assert.equal(served.status, 400, `${what}: the request has no key (onMissingKey: reject)`);
      assert.equal(served.member, "", `${what}: no member was asked`);
      const a = await adminRoute(node);
      assertMissing(a, `${what}: /admin/route`);
      assert.equal(a.key, node, `${what}: the key asked about is echoed`);
      assert.equal(a.hashedAs, "", `${what}: hashed as no key`);
      assert.match(a.note ?? "", /identifies no client/, `${what}: the note says why`);
      // An X-Forwarded-For entry of the same text from a trusted proxy is no key either.
      const viaXff = await rawH1(port, "/i/x", [`X-Forwarded-For: ${node}`]);
      assert.equal(viaXff.status, 400, `X-Forwarded-For: ${node}: the request has no key`);
      assert.equal(viaXff.member, "", `X-Forwarded-For: ${node}: no member was asked`);
    }
    // Seeded client addresses still name the member their requests are served by.
    const random = seededRandom(SEED);
    const addresses: string[] = [];
    for (let n = 0; n < 6; n++) {
      const address = `198.51.100.${1 + Math.floor(random() * 254)}`;
      const served = await rawH1(port, "/i/x", [`Forwarded: for=${address}`]);
      assert.equal(served.status, 200, `${address} (${seedNote(SEED)})`);
      assert.equal((await adminRoute(address)).member, served.member, `${address} (${seedNote(SEED)})`);
      addresses.push(address);
    }
    const asked = [...NOTHING, ...addresses];
    const r = await fetchJson(
      `${sg.adminUrl}/admin/routes?pool=users&source=ip${asked.map((k) => `&key=${encodeURIComponent(k)}`).join("")}`,
    );
    assert.equal(r.status, 200, r.text);
    const routes = (r.body as { routes: Answer[] }).routes;
    assert.equal(routes.length, asked.length);
    for (const [i, node] of NOTHING.entries()) assertMissing(routes[i], `/admin/routes ${node}`);
    for (let i = NOTHING.length; i < asked.length; i++)
      assert.ok(
        routes[i].member !== null && routes[i].keyHash >= 0,
        `/admin/routes ${asked[i]} names a member`,
      );
  });

  it("ctl route --source ip says the key is missing and what the route does", async () => {
    const one = await runCtl(["--admin", sg.adminUrl, "--source", "ip", "route", "users", "unknown"]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /key {6}unknown \(no key\)/, one.stdout);
    assert.match(one.stdout, /member {3}no key: onMissingKey reject/, one.stdout);
    const json = await runCtl([
      "--admin",
      sg.adminUrl,
      "--json",
      "--source",
      "ip",
      "route",
      "users",
      "_hidden",
    ]);
    assert.equal(json.code, 0, json.stderr);
    assertMissing(JSON.parse(json.stdout) as Answer, "ctl --json route _hidden");
    const many = await runCtl([
      "--admin",
      sg.adminUrl,
      "--source",
      "ip",
      "route",
      "users",
      "unknown",
      "192.0.2.7",
    ]);
    assert.equal(many.code, 0, many.stderr);
    assert.match(many.stdout, /unknown \(no key\)\s+no key: onMissingKey reject/, many.stdout);
    assert.doesNotMatch(many.stdout.split("\n").find((l) => l.startsWith("192.0.2.7")) ?? "", /no key/);
  });
});
