// A `header:host` key names one member for every spelling of one authority, on every listener
// (feature level 7, which a standalone instance reads by): `h.test`, `h.test:80`, `h.test:443`,
// `h.test.`, `H.Test.:0443` name one member on a plain listener and on a TLS one, as Host on
// HTTP/1.1 and as `:authority` on HTTP/2 (h2c prior knowledge, h2 over TLS with ALPN). The member
// is the one the authority's canonical text hashes to, and on each instance the one its
// /admin/route names for the spelling as sent (`source=header:host`); another port (`h.test:8080`)
// is another key. The two instances are two processes of one fleet layout (a plain sidecar
// behind a TLS-terminating balancer, and an instance terminating TLS itself): level 6 read
// `h.test:443` as `h.test` on the TLS one and as `h.test:443` on the plain one, and before level
// 6 each spelling was its own (lower-cased) key. The test checks its seeded spellings do part
// under both readings, so it cannot pass vacuously.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { ClientHttp2Session } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { hostKeyTextV6 } from "../../proxy/routing/host-key.js";
import {
  h2Get,
  h2Session,
  type MemberServer,
  rawH1,
  type Served,
  startNamingMember,
} from "../support/key-carriers.js";
import { namingPoolConfig } from "../support/naming-pool-config.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { fetchJson, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { issueCert, makeCa } from "../support/test-ca.js";

const SEED = testSeed(4617);
const random = seededRandom(SEED);

function yaml(members: readonly MemberServer[], listen: string): string {
  return namingPoolConfig(
    members,
    ['{ match: { pathPrefix: / }, pool: users, key: ["header:host"], onMissingKey: reject }'],
    { listen },
  );
}

function portOf(sg: RunningShardgate): number {
  return Number(/(\d+)$/.exec(sg.httpUrl)?.[1]);
}

const LOWER = "abcdefghijklmnopqrstuvwxyz";
function label(): string {
  let s = "";
  for (let n = 3 + Math.floor(random() * 6); n > 0; n--) s += LOWER[Math.floor(random() * LOWER.length)];
  return s;
}
function mixedCase(s: string): string {
  let out = "";
  for (const c of s) out += random() < 0.5 ? c.toUpperCase() : c;
  return out;
}

/** [spelling as sent, the authority's canonical key text], the same on every listener. */
function spellings(host: string): Array<[string, string]> {
  const dot = host.startsWith("[") ? "" : ".";
  const other = 1024 + Math.floor(random() * 8900); // four digits: "0" + it is still a valid port
  const out: Array<[string, string]> = [
    [host, host],
    [`${host}${dot}`, host],
    [`${host}:${other}`, `${host}:${other}`],
    [mixedCase(`${host}${dot}:0${other}`), `${host}:${other}`],
  ];
  for (const port of [80, 443])
    out.push(
      [`${host}:${port}`, host],
      [`${host}${dot}:${port}`, host],
      [mixedCase(`${host}${dot}:0${port}`), host],
    );
  return out;
}

describe(`one authority, one host key, on plain and TLS listeners, HTTP/1.1 and HTTP/2 (${seedNote(SEED)})`, {
  timeout: 300_000,
}, () => {
  const members: MemberServer[] = [];
  let plain: RunningShardgate;
  let tls: RunningShardgate;
  let ca: Buffer;
  const dir = mkdtempSync(join(tmpdir(), "sg-hostkey-"));

  before(async () => {
    for (let i = 0; i < 5; i++) members.push(await startNamingMember(`m${i}`));
    makeCa(dir);
    issueCert(dir, "leaf", "127.0.0.1", "IP:127.0.0.1");
    ca = readFileSync(join(dir, "ca.pem"));
    [plain, tls] = await Promise.all([
      startShardgate(yaml(members, "  http: 127.0.0.1:0\n")),
      startShardgate(
        yaml(
          members,
          `  http: 127.0.0.1:0\n  tls: { cert: ${join(dir, "leaf.pem")}, key: ${join(dir, "leaf.key")} }\n`,
        ),
        { args: ["--workers", "2"] },
      ),
    ]);
  });
  after(async () => {
    await stopAll();
    await Promise.all(members.map((m) => m.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** The member `sg`'s /admin/route names for `key` read from `source`. */
  async function ownerAt(sg: RunningShardgate, source: string, key: string): Promise<string> {
    const r = await fetchJson(
      `${sg.adminUrl}/admin/route?pool=users&source=${source}&key=${encodeURIComponent(key)}`,
    );
    assert.equal(r.status, 200, r.text);
    return String((r.body as { member: unknown }).member);
  }

  /** The member /admin/route names for `key` read from `source` (asked of both instances: one answer). */
  async function owner(source: string, key: string): Promise<string> {
    const owners = new Set<string>();
    for (const sg of [plain, tls]) owners.add(await ownerAt(sg, source, key));
    assert.equal(owners.size, 1, `the instances name different owners for ${key}: ${[...owners]}`);
    return [...owners][0];
  }

  it("serves every spelling of an authority by the member of its canonical text, on either listener", async () => {
    const hosts = [
      `${label()}.${label()}.test`,
      `${label()}.test`,
      label(),
      `192.0.2.${1 + Math.floor(random() * 254)}`,
      `[2001:db8::${(1 + Math.floor(random() * 0xfffe)).toString(16)}]`,
    ];
    let parted = 0;
    let parted6 = 0;
    const wrong: string[] = [];
    const h2c: ClientHttp2Session = h2Session(portOf(plain));
    const h2tls: ClientHttp2Session = h2Session(portOf(tls), ca);
    try {
      for (const host of hosts) {
        for (const [spelling, canonical] of spellings(host)) {
          // The member of the canonical text, hashed as it is (a header key other than Host).
          const expect = await owner("header:x-user-id", canonical);
          // What the reading before level 6 hashed (the spelling, lower-cased), and what level 6
          // hashed on each listener (its own default port dropped): members apart from `expect`.
          if ((await owner("header:x-user-id", spelling.toLowerCase())) !== expect) parted++;
          const on6 = [hostKeyTextV6(spelling, 80), hostKeyTextV6(spelling, 443)];
          if ((await owner("header:x-user-id", on6[0])) !== (await owner("header:x-user-id", on6[1])))
            parted6++;
          for (const [name, sg] of [
            ["plain", plain],
            ["TLS", tls],
          ] as const) {
            // /admin/route reads a host key as every listener does: asked in the spelling sent,
            // each instance names that member.
            const named = await ownerAt(sg, "header:host", spelling);
            if (named !== expect)
              wrong.push(`admin on ${name}: ${spelling} names ${named}, ${canonical} is ${expect}`);
            const carriers: Array<[string, Promise<Served>]> =
              sg === plain
                ? [
                    ["HTTP/1.1", rawH1(portOf(plain), "/x", [`Host: ${spelling}`])],
                    ["h2c :authority", h2Get(h2c, "/x", { ":authority": spelling })],
                  ]
                : [
                    ["HTTP/1.1 TLS", rawH1(portOf(tls), "/x", [`Host: ${spelling}`], { tlsCa: ca })],
                    ["h2 TLS :authority", h2Get(h2tls, "/x", { ":authority": spelling })],
                  ];
            for (const [carrier, p] of carriers) {
              const s = await p;
              assert.equal(s.status, 200, `${carrier} on ${name}, ${spelling}`);
              if (s.member !== expect)
                wrong.push(
                  `${carrier} on ${name}: ${spelling} served by ${s.member}, ${canonical} is ${expect}`,
                );
            }
          }
        }
      }
    } finally {
      h2c.close();
      h2tls.close();
    }
    assert.deepEqual(wrong, [], `spellings of one authority on several members (${seedNote(SEED)})`);
    assert.ok(parted > 0, `the spellings part under the lower-casing reading (${seedNote(SEED)})`);
    assert.ok(parted6 > 0, `the listeners part under level 6's reading (${seedNote(SEED)})`);
  });
});
