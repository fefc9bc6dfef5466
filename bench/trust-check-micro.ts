// Micro-benchmark of the trustedProxies check (key-extract.ts isTrusted), asked for the peer and
// for every X-Forwarded-For / Forwarded entry a route with `trustedProxies` reads:
// `npm run bench -- trust-check`. Peer: node:net BlockList.check with the text unmapped and its
// family found by isIPv4, which is what isTrusted ran before proxy/routing/cidr-match.ts.
// Both are built from the same blocks and asked the same addresses in the same process, passes
// interleaved; ns per call is the median of the passes. Also prints the garbage collections
// each side caused over its calls: CidrMatcher is meant to allocate nothing per check.

import { BlockList, isIPv4 } from "node:net";
import { PerformanceObserver } from "node:perf_hooks";
import type { Cidr } from "../config/file/schema.js";
import { unmapIPv4 } from "../proxy/routing/address-text.js";
import { CidrMatcher } from "../proxy/routing/cidr-match.js";
import { checksum, median } from "./micro-time.js";
import { runIfMain } from "./run-if-main.js";

const PASSES = 15;
const CALLS = 200_000;

/** Blocks a deployment trusts: private ranges, loopback, a cloud balancer's ranges. */
const ALL_BLOCKS: readonly string[] = [
  "10.0.0.0/8",
  "::1/128",
  "172.16.0.0/12",
  "fc00::/7",
  "192.168.0.0/16",
  "127.0.0.0/8",
  "100.64.0.0/10",
  "2600:1f00::/24",
  "130.211.0.0/22",
  "35.191.0.0/16",
  "2001:db8:1::/48",
  "198.18.0.0/15",
  "169.254.0.0/16",
  "fe80::/10",
  "34.96.0.0/20",
  "2a05:d000::/25",
];

function cidr(text: string): Cidr {
  const [address, prefix] = text.split("/");
  return { address, prefix: Number(prefix), family: isIPv4(address) ? "ipv4" : "ipv6" };
}

function blockCheck(list: BlockList, address: string): boolean {
  const a = unmapIPv4(address);
  try {
    return list.check(a, isIPv4(a) ? "ipv4" : "ipv6");
  } catch {
    return false;
  }
}

/** What a request asks: the peer (a trusted balancer), then entries right to left. */
const ADDRESSES: ReadonlyArray<[string, string]> = [
  ["IPv4 trusted (peer)", "10.1.2.3"],
  ["IPv4 untrusted client", "203.0.113.7"],
  ["IPv6 untrusted client", "2001:db8:85a3::8a2e:370:7334"],
  ["IPv4-mapped peer", "::ffff:192.168.1.20"],
];

let sink = 0;
let gcs = 0;

function pass(check: (a: string) => boolean, address: string): number {
  let hits = 0;
  for (let i = 0; i < CALLS; i++) if (check(address)) hits++;
  return hits;
}

function timed(check: (a: string) => boolean, address: string): number {
  const t0 = process.hrtime.bigint();
  sink ^= pass(check, address);
  return Number(process.hrtime.bigint() - t0) / CALLS;
}

/** GCs observed while `check` runs 10 passes (entries arrive asynchronously: awaited after). */
async function gcsDuring(check: (a: string) => boolean, address: string): Promise<number> {
  await new Promise((r) => setImmediate(r));
  const before = gcs;
  for (let p = 0; p < 10; p++) sink ^= pass(check, address);
  await new Promise((r) => setTimeout(r, 50));
  return gcs - before;
}

export async function run(_argv: string[]): Promise<number> {
  const observer = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  observer.observe({ entryTypes: ["gc"] });
  const rows: string[][] = [];
  for (const size of [1, 4, 16]) {
    const cidrs = ALL_BLOCKS.slice(0, size).map(cidr);
    const list = new BlockList();
    for (const c of cidrs) list.addSubnet(c.address, c.prefix, c.family);
    const matcher = new CidrMatcher(cidrs);
    const old = (a: string) => blockCheck(list, a);
    const now = (a: string) => matcher.has(a);
    for (const [what, address] of ADDRESSES) {
      if (old(address) !== now(address)) throw new Error(`${address}: answers differ`);
      for (let w = 0; w < 3; w++) {
        sink ^= pass(old, address);
        sink ^= pass(now, address);
      }
      const a: number[] = [];
      const b: number[] = [];
      for (let p = 0; p < PASSES; p++) {
        a.push(timed(old, address));
        b.push(timed(now, address));
      }
      const oldNs = median(a);
      const newNs = median(b);
      const oldGcs = await gcsDuring(old, address);
      const newGcs = await gcsDuring(now, address);
      rows.push([
        String(size),
        what,
        oldNs.toFixed(0),
        newNs.toFixed(1),
        `${(oldNs / newNs).toFixed(1)}x`,
        `${oldGcs} / ${newGcs}`,
      ]);
    }
  }
  observer.disconnect();
  const head = [
    "blocks",
    "address",
    "BlockList ns",
    "CidrMatcher ns",
    "speed-up",
    `GCs per ${10 * CALLS} calls (old / new)`,
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  console.log(`(median of ${PASSES} passes of ${CALLS} calls; checksum ${sink ^ checksum()})`);
  return 0;
}

runIfMain(import.meta.url, run);
