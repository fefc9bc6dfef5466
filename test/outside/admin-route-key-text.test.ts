// /admin/route, /admin/routes and `shardgate ctl route` read a key as requests do. Requests hash
// an `ip` key in one canonical text (an X-Forwarded-For `2001:DB8::1` is the client
// `2001:db8::1`, `192.0.2.7:4711` is `192.0.2.7`) and a `header:host` key in lower case, but the
// admin endpoint hashed the key exactly as given: asked about `2001:DB8::1` it named the member
// of another text than the one that client is routed to. Tried from the outside: a real
// shardgate, members that name themselves, requests through a trusted proxy (loopback) carrying
// seeded addresses in several spellings; each served member is compared with what /admin/route,
// /admin/routes and ctl say for the same spelling.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runCtl } from "../support/ctl-runner.js";
import { type MemberServer, rawH1, startNamingMember } from "../support/key-carriers.js";
import { namingPoolConfig } from "../support/naming-pool-config.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { fetchJson, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

const SEED = testSeed(6060);
const members: MemberServer[] = [];
let sg: RunningShardgate;
let port = 0;

function yaml(): string {
  return namingPoolConfig(members, [
    '{ match: { pathPrefix: /i/ }, pool: users, key: [ip], onMissingKey: reject, trustedProxies: ["127.0.0.0/8"] }',
    '{ match: { pathPrefix: /hh/ }, pool: users, key: ["header:host"], onMissingKey: reject }',
    '{ match: { pathPrefix: / }, pool: users, key: ["header:x-user-id"], onMissingKey: reject }',
  ]);
}

/** A seeded address and spellings of it a proxy may write, the canonical one first. */
function addressSpellings(random: () => number): string[] {
  const word = () => Math.floor(random() * 0x10000);
  if (random() < 0.4) {
    const v4 = `198.51.${Math.floor(random() * 256)}.${Math.floor(random() * 256)}`;
    return [v4, `${v4}:${1 + Math.floor(random() * 65535)}`, `::FFFF:${v4}`, `[::ffff:${v4}]:443`];
  }
  const words = [0x2001, 0xdb8, word(), 0, 0, word(), 0, 1 + word()];
  const full = words.map((w) => w.toString(16)).join(":");
  const canonical = full.replace(/(^|:)0(:0)+(:|$)/, "::");
  return [
    canonical,
    full.toUpperCase(),
    `[${full}]:8443`,
    words.map((w) => w.toString(16).padStart(4, "0")).join(":"),
  ];
}

async function served(path: string, fields: Array<[string, string]>): Promise<string> {
  const r = await rawH1(
    port,
    path,
    fields.map(([n, v]) => `${n}: ${v}`),
  );
  assert.equal(r.status, 200, `${path} ${JSON.stringify(fields)}: ${r.status}`);
  return r.member;
}

async function adminMember(key: string, source?: string): Promise<{ member: string; hashedAs?: string }> {
  const q = `pool=users&key=${encodeURIComponent(key)}${source === undefined ? "" : `&source=${encodeURIComponent(source)}`}`;
  const r = await fetchJson(`${sg.adminUrl}/admin/route?${q}`);
  assert.equal(r.status, 200, `/admin/route?${q}: ${r.text}`);
  return r.body as { member: string; hashedAs?: string };
}

describe(`admin key text is the request's key text (${seedNote(SEED)})`, { timeout: 300_000 }, () => {
  before(async () => {
    for (let i = 1; i <= 6; i++) members.push(await startNamingMember(`m${i}`));
    sg = await startShardgate(yaml());
    port = Number(/(\d+)$/.exec(sg.httpUrl)?.[1]);
  });
  after(async () => {
    await stopAll();
    await Promise.all(members.map((m) => m.close()));
  });

  it("an address in any spelling names the member its client is routed to", async () => {
    const random = seededRandom(SEED);
    const asked: string[] = [];
    const expected: string[] = [];
    for (let n = 0; n < 16; n++) {
      const spellings = addressSpellings(random);
      const canonical = spellings[0];
      for (const spelling of spellings) {
        const what = `X-Forwarded-For ${spelling} (${seedNote(SEED)})`;
        const member = await served("/i/x", [["X-Forwarded-For", spelling]]);
        assert.equal((await adminMember(spelling)).member, member, `${what}: /admin/route`);
        const viaIp = await adminMember(spelling, "ip");
        assert.equal(viaIp.member, member, `${what}: /admin/route&source=ip`);
        assert.equal(viaIp.hashedAs ?? spelling, canonical, `${what}: the text hashed`);
        asked.push(spelling);
        expected.push(member);
      }
    }
    const r = await fetchJson(
      `${sg.adminUrl}/admin/routes?pool=users${asked.map((k) => `&key=${encodeURIComponent(k)}`).join("")}`,
    );
    assert.equal(r.status, 200, r.text);
    const routes = (r.body as { routes: Array<{ key: string; member: string }> }).routes;
    assert.deepEqual(
      routes.map((x) => x.member),
      expected,
      "/admin/routes names each spelling's member",
    );
    assert.deepEqual(
      routes.map((x) => x.key),
      asked,
      "each answer's key is the spelling asked",
    );
    // ctl, one key (the detailed answer) and several (/admin/routes): same members.
    const one = await runCtl(["--admin", sg.adminUrl, "--json", "route", "users", asked[1]]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(JSON.parse(one.stdout).member, expected[1], `ctl route ${asked[1]}`);
    const many = await runCtl([
      "--admin",
      sg.adminUrl,
      "--json",
      "--source",
      "ip",
      "route",
      "users",
      ...asked.slice(0, 8),
    ]);
    assert.equal(many.code, 0, many.stderr);
    assert.deepEqual(
      (JSON.parse(many.stdout) as { routes: Array<{ member: string }> }).routes.map((x) => x.member),
      expected.slice(0, 8),
      "ctl route --source ip with several keys",
    );
  });

  it("source=header:host lowers the host; other sources take the key as given", async () => {
    for (const host of ["Shop.Test", "API.EXAMPLE.COM", "MiXeD.test", "a.B.c", "UPPER", "x.Y"]) {
      const member = await served("/hh/x", [["Host", host]]);
      assert.equal((await adminMember(host, "header:host")).member, member, `Host ${host}`);
    }
    // A header key spelled like an address is that text, when the source says so.
    const random = seededRandom(SEED + 1);
    let differs = 0;
    for (let n = 0; n < 12; n++) {
      const spelling = addressSpellings(random)[1];
      const member = await served("/h/x", [["X-User-Id", spelling]]);
      const asHeader = await adminMember(spelling, "header:x-user-id");
      assert.equal(asHeader.member, member, `X-User-Id ${spelling}`);
      assert.equal(asHeader.hashedAs, undefined, `X-User-Id ${spelling}: hashed as given`);
      if ((await adminMember(spelling)).member !== member) differs++;
    }
    assert.ok(differs > 0, "some address spellings, read as ip keys by default, name other members");
  });

  it("an unknown source is 400 bad_parameter", async () => {
    for (const source of ["hedaer:x", "path:0", "ip:1", "nope"]) {
      const r = await fetchJson(
        `${sg.adminUrl}/admin/route?pool=users&key=k&source=${encodeURIComponent(source)}`,
      );
      assert.equal(r.status, 400, `${source}: ${r.text}`);
      assert.equal((r.body as { error: string }).error, "bad_parameter", source);
    }
  });
});
