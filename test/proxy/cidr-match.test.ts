// CidrMatcher (proxy/routing/cidr-match.ts) answers what node:net's BlockList answered for the
// trustedProxies check it replaced: the address text unmapped (unmapIPv4) and checked with
// `check(a, isIPv4(a) ? "ipv4" : "ipv6")`, false where BlockList throws. Compared over a seeded
// fuzz of blocks (IPv4 /0-/32, IPv6 /0-/128, in and around the IPv4-mapped range, with zones)
// and address texts (inside and outside the blocks, every spelling a proxy writes, mapped
// forms, embedded IPv4 tails, zones, and mutated or random text), and over fixed edge cases of
// the two parsers (leading zeros, "::" placement, the 39-character cut before a "%zone", NUL).

import assert from "node:assert/strict";
import { BlockList, isIPv4 } from "node:net";
import { test } from "node:test";
import type { Cidr } from "../../config/file/schema.js";
import { unmapIPv4 } from "../../proxy/routing/address-text.js";
import { CidrMatcher } from "../../proxy/routing/cidr-match.js";
import { pick, seededRandom, seedNote, testSeed } from "../support/prng.js";

const SEED = testSeed(8128);

/** The check CidrMatcher replaced (key-extract.ts isTrusted before it). */
function blockListAnswer(list: BlockList, address: string): boolean {
  if (address === "") return false;
  const a = unmapIPv4(address);
  try {
    return list.check(a, isIPv4(a) ? "ipv4" : "ipv6");
  } catch {
    return false;
  }
}

function blockListOf(cidrs: readonly Cidr[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) list.addSubnet(c.address, c.prefix, c.family);
  return list;
}

type Random = () => number;
const int = (random: Random, n: number): number => Math.floor(random() * n);

function v4Text(x: number): string {
  return [x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255].join(".");
}

/** Eight groups as text: compressed (longest zero run as "::") or not, in either case, padded or not. */
function v6Text(random: Random, g: readonly number[], tailV4 = false): string {
  const hex = (w: number): string => {
    const h = w.toString(16);
    const t = random() < 0.2 ? h.padStart(4, "0") : h;
    return random() < 0.3 ? t.toUpperCase() : t;
  };
  const words = tailV4 ? g.slice(0, 6).map(hex) : g.map(hex);
  const tail = tailV4 ? [v4Text(((g[6] << 16) | g[7]) >>> 0)] : [];
  if (random() < 0.7) {
    // Compress a run of zero groups (not necessarily the longest: inet_pton takes any one).
    const runs: Array<[number, number]> = [];
    for (let i = 0; i < words.length; i++) {
      if (g[i] !== 0) continue;
      let j = i;
      while (j + 1 < words.length && g[j + 1] === 0) j++;
      runs.push([i, j]);
      i = j;
    }
    if (runs.length > 0) {
      const [a, b] = pick(random, runs);
      return `${words.slice(0, a).join(":")}::${[...words.slice(b + 1), ...tail].join(":")}`;
    }
  }
  return [...words, ...tail].join(":");
}

function groupsOf(random: Random, base?: readonly number[], keep = 0): number[] {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) {
    if (base !== undefined && i * 16 < keep) g.push(base[i]);
    else g.push(random() < 0.35 ? 0 : int(random, 0x10000));
  }
  return g;
}

/** A block, with its eight groups when it is IPv6 (for addresses drawn inside it). */
type Block = Cidr & { groups?: number[] };

function randomCidr(random: Random): Block {
  const r = random();
  if (r < 0.4) {
    const x = random() < 0.3 ? (int(random, 256) << 24) >>> 0 : int(random, 0x100000000);
    return { address: v4Text(x), prefix: random() < 0.1 ? 0 : int(random, 33), family: "ipv4" };
  }
  if (r < 0.55) {
    // In or around the IPv4-mapped range.
    const x = int(random, 0x100000000);
    const groups = [0, 0, 0, 0, 0, 0xffff, x >>> 16, x & 0xffff];
    return { address: `::ffff:${v4Text(x)}`, prefix: 80 + int(random, 49), family: "ipv6", groups };
  }
  if (r < 0.62) return { address: "::", prefix: int(random, 129), family: "ipv6", groups: Array(8).fill(0) };
  const groups = groupsOf(random);
  const zone = random() < 0.1 ? "%eth0" : "";
  return { address: v6Text(random, groups) + zone, prefix: int(random, 129), family: "ipv6", groups };
}

const MUTATION_CHARS = "0123456789abcdefABCDEFgx:.%[] \u0000";

function mutate(random: Random, s: string): string {
  const chars = [...s];
  const edits = 1 + int(random, 3);
  for (let e = 0; e < edits; e++) {
    const at = int(random, chars.length + 1);
    const c = pick(random, [...MUTATION_CHARS]);
    const kind = int(random, 3);
    if (kind === 0) chars.splice(at, 0, c);
    else if (kind === 1) chars.splice(at, 1);
    else chars.splice(at, 1, c);
  }
  return chars.join("");
}

/** An address text near `cidrs`: inside one, just outside, in another spelling, or damaged. */
function randomAddress(random: Random, cidrs: readonly Block[]): string {
  const c = pick(random, cidrs);
  const r = random();
  let text: string;
  if (c.family === "ipv4" && r < 0.5) {
    const net = c.address.split(".").reduce((a, o) => a * 256 + Number(o), 0);
    const span = 2 ** (32 - c.prefix);
    const x = (Math.floor(net / span) * span + int(random, Math.min(span * 2, 0x100000000))) % 0x100000000;
    const forms = [v4Text(x), `::ffff:${v4Text(x)}`, `::FFFF:${v4Text(x)}`, `0:0:0:0:0:ffff:${v4Text(x)}`];
    forms.push(`::ffff:${(x >>> 16).toString(16)}:${(x & 0xffff).toString(16)}`, `::${v4Text(x)}`);
    text = pick(random, forms);
  } else if (r < 0.75) {
    const g = groupsOf(random, c.groups, c.groups === undefined ? 0 : c.prefix + int(random, 3) - 1);
    text = v6Text(random, g, random() < 0.15);
    if (random() < 0.1) text += pick(random, ["%eth0", "%1", "%"]);
  } else if (r < 0.85) {
    // Padded groups and a zone: the address part is cut at 39 characters.
    const g = groupsOf(random);
    text = `${g.map((w) => w.toString(16).padStart(4 + int(random, 2), "0")).join(":")}%z`;
  } else if (r < 0.95) {
    text = mutate(
      random,
      random() < 0.5 ? v4Text(int(random, 0x100000000)) : v6Text(random, groupsOf(random)),
    );
  } else {
    const n = int(random, 48);
    text = "";
    for (let i = 0; i < n; i++) text += pick(random, [...MUTATION_CHARS]);
  }
  return text;
}

test(`CidrMatcher answers as BlockList over a seeded fuzz of blocks and addresses (${seedNote(SEED)})`, () => {
  const random = seededRandom(SEED);
  const mismatches: string[] = [];
  let checks = 0;
  let inside = 0;
  for (let set = 0; set < 300 && mismatches.length < 10; set++) {
    const cidrs = Array.from({ length: 1 + int(random, 6) }, () => randomCidr(random));
    const reference = blockListOf(cidrs);
    const matcher = new CidrMatcher(cidrs);
    for (let k = 0; k < 300; k++) {
      const address = randomAddress(random, cidrs);
      const want = blockListAnswer(reference, address);
      checks++;
      if (want) inside++;
      if (matcher.has(address) !== want)
        mismatches.push(`${JSON.stringify(address)} in ${JSON.stringify(cidrs)}: BlockList ${want}`);
    }
  }
  assert.deepEqual(mismatches, [], `${seedNote(SEED)}: ${checks} checks`);
  // The fuzz must exercise both answers, not only "outside".
  assert.ok(inside > checks / 10 && inside < checks - checks / 10, `inside ${inside} of ${checks}`);
});

test("CidrMatcher answers as BlockList at the parsers' edges", () => {
  const sets: Cidr[][] = [
    [{ address: "1.2.3.0", prefix: 24, family: "ipv4" }],
    [{ address: "0.0.0.0", prefix: 0, family: "ipv4" }],
    [{ address: "::", prefix: 0, family: "ipv6" }],
    [{ address: "::", prefix: 80, family: "ipv6" }],
    [{ address: "::ffff:0:0", prefix: 95, family: "ipv6" }],
    [{ address: "fe80::", prefix: 10, family: "ipv6" }],
  ];
  const addresses = [
    "1.2.3.4",
    "01.2.3.4",
    "1.2.3.04",
    "1.2.3.256",
    "1.2.3",
    "1.2.3.4.",
    " 1.2.3.4",
    "::ffff:1.2.3.4",
    "::FFFF:1.2.3.4",
    "::ffff:102:304",
    "::1.2.3.4",
    "::ffff:01.2.3.4",
    "1:2:3:4:5:6:1.2.3.4",
    "1:2:3:4:5:6:7:1.2.3.4",
    "1:2:3:4:5:6:7::",
    "::1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8::",
    "1::2::3",
    ":1::",
    ":::",
    "::",
    "1:",
    "1::",
    "12345::",
    "fe80::1%eth0",
    "fe80::1%",
    "%eth0",
    "0000:0000:0000:0000:0000:0000:0000:00001%x",
    "0000:0000:0000:0000:0000:0000:0000:0001%x",
    "fe80:0000:0000:0000:0000:0000:0000:00001%x",
    "::1\u0000zz",
    "1.2.3.4\u0000",
    "",
    "unknown",
    "[::1]",
  ];
  for (const cidrs of sets) {
    const reference = blockListOf(cidrs);
    const matcher = new CidrMatcher(cidrs);
    for (const a of addresses)
      assert.equal(
        matcher.has(a),
        blockListAnswer(reference, a),
        `${JSON.stringify(a)} in ${JSON.stringify(cidrs)}`,
      );
  }
});
