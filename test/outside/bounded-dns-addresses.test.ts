// How many addresses the upstream lookup (proxy/net/bounded-lookup.ts) keeps for one name,
// tried with a real hosts file that gives a member host 3,000 IPv4 and 300 IPv6 addresses and
// a real TCP connect through the lookup. Found: every address was kept and handed to every
// caller (a DNS answer over TCP holds some 4,000 A records; a hosts file has no limit). Now at
// most 64 per address family are kept, the first ones in order, with one warning line per name.

import assert from "node:assert/strict";
import type { LookupAddress } from "node:dns";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  BoundedLookup,
  DEFAULT_LOOKUP_SETTINGS,
  MAX_ADDRESSES_PER_FAMILY,
} from "../../proxy/net/bounded-lookup.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(4000);
const random = seededRandom(SEED);

const NAME = "many.members.test";
let dir: string;
let server: Server;
let port = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sg-hosts-"));
  server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  port = (server.address() as { port: number }).port;
});

after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function lookupAll(l: BoundedLookup, family: number): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) =>
    l.lookup(NAME, { all: true, family }, (err, list) =>
      err !== null ? reject(err) : resolve(list as unknown as LookupAddress[]),
    ),
  );
}

test("a name with thousands of addresses keeps at most 64 per family and says so once", async () => {
  const note = seedNote(SEED);
  // 127.0.0.1 first (the one that answers), then 2,999 others of 127/8 in a seeded order.
  const v4 = ["127.0.0.1"];
  const seen = new Set(v4);
  while (v4.length < 3000) {
    const a = `127.${1 + Math.floor(random() * 250)}.${Math.floor(random() * 256)}.${1 + Math.floor(random() * 250)}`;
    if (!seen.has(a)) {
      seen.add(a);
      v4.push(a);
    }
  }
  const v6 = Array.from({ length: 300 }, (_, i) => `fd00::${(i + 1).toString(16)}`);
  const hosts = join(dir, "hosts");
  writeFileSync(hosts, [...v4, ...v6].map((a) => `${a} ${NAME}\n`).join(""));
  const warnings: string[] = [];
  const l = new BoundedLookup(DEFAULT_LOOKUP_SETTINGS, () => performance.now(), undefined, hosts);
  l.setHostsWarn((m) => warnings.push(m));

  const both = await lookupAll(l, 0);
  assert.equal(both.length, 2 * MAX_ADDRESSES_PER_FAMILY, `${both.length} addresses kept (${note})`);
  assert.deepEqual(
    both.filter((a) => a.family === 4).map((a) => a.address),
    v4.slice(0, MAX_ADDRESSES_PER_FAMILY),
    `the first IPv4 addresses, in order (${note})`,
  );
  const six = await lookupAll(l, 6);
  assert.deepEqual(
    six.map((a) => a.address),
    v6.slice(0, MAX_ADDRESSES_PER_FAMILY),
    `IPv6 callers still get IPv6 addresses (${note})`,
  );
  assert.equal(warnings.length, 1, `one warning for the name: ${JSON.stringify(warnings)} (${note})`);
  assert.match(warnings[0], /many\.members\.test resolved to 3300 addresses: keeping the first 128/);

  // The lookup still serves a real connect: the first address is the listener's.
  await new Promise<void>((resolve, reject) => {
    const s = connect({ host: NAME, port, family: 4, lookup: l.lookup as never, autoSelectFamily: false });
    s.once("connect", () => {
      s.destroy();
      resolve();
    });
    s.once("error", reject);
  });
});
