// The upstream lookup's bound on getaddrinfo (proxy/net/bounded-lookup.ts), tried with a real
// resolver: names the DNS server says do not exist are asked again of getaddrinfo, for the
// resolv.conf `search` list, and here every search-list name hangs (the server never answers
// it). Six such names at once must start only `maxConcurrent` getaddrinfo calls (2 here; the
// rest wait, then time out with EDNS_TIMEOUT, and are never started), not one per name.
// (libuv itself runs at most 2 at once and queues the rest without a bound or a timeout.)
// A node process in a mount namespace of its own whose resolv.conf names a DNS double on
// 127.x.y.z:53 (test/support/dns-double.ts); it cannot exit while 2 lookups hang (an exit joins
// the pool's threads), so the test kills it.

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { DnsDouble, mountNamespaceUnavailable, spawnInNamespace } from "../support/dns-double.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { scaled } from "../support/wait.js";

const seed = testSeed(20_261_207);
const dir = mkdtempSync(join(tmpdir(), "shardgate-dns-bound-"));
const skip = mountNamespaceUnavailable();
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const MODULE = fileURLToPath(
  new URL(
    FROM_SOURCE ? "../../proxy/net/bounded-lookup.ts" : "../../proxy/net/bounded-lookup.js",
    import.meta.url,
  ),
);
let child: ChildProcess | null = null;
let dns: DnsDouble | null = null;

after(async () => {
  if (child !== null && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await dns?.close();
  rmSync(dir, { recursive: true, force: true });
});

const SCRIPT = `
const { BoundedLookup, DEFAULT_LOOKUP_SETTINGS } = await import(process.argv[1]);
const l = new BoundedLookup({ ...DEFAULT_LOOKUP_SETTINGS, maxConcurrent: 2, timeoutMs: 4000 });
const t0 = Date.now();
const names = ["n1", "n2", "n3", "n4", "n5", "n6"].map((n) => n + ".bound");
const results = await Promise.all(names.map((n) => new Promise((r) =>
  l.lookup(n, { all: true }, (e) => r({ name: n, code: e ? e.code : null, ms: Date.now() - t0 })))));
console.log(JSON.stringify({ results, active: l.active, calls: l.stats.calls }));
`;

test("names DNS does not know, whose search-list names hang: at most maxConcurrent getaddrinfo calls, the rest never started", {
  skip: skip ?? false,
  timeout: 120_000,
}, async () => {
  dns = await DnsDouble.start(seededRandom(seed));
  // The names themselves: NXDOMAIN (c-ares, then getaddrinfo's first try); with the search
  // domain appended: never answered (getaddrinfo's thread hangs 30 s x 5).
  dns.rule = (name) => (name.endsWith(".search.test") ? "silent" : "nxdomain");
  const resolv = join(dir, "resolv.conf");
  dns.writeResolvConf(resolv, 30, 5, "search.test");
  const pre = FROM_SOURCE ? ["--import", "tsx"] : [];
  child = spawnInNamespace(resolv, process.execPath, [...pre, "--input-type=module", "-e", SCRIPT, MODULE]);
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (c: string) => {
    out += c;
  });
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    err += c;
  });
  const proc = child;
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no result in time; stdout ${out} stderr ${err} ${seedNote(seed)}`)),
      scaled(60_000),
    );
    const check = (): void => {
      const nl = out.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    };
    proc.stdout?.on("data", check);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited ${code}: ${err}`));
    });
  });
  const r = JSON.parse(line) as {
    results: Array<{ name: string; code: string | null; ms: number }>;
    active: number;
    calls: number;
  };
  const note = `${line}\nqueries ${JSON.stringify(dns.queries)}\n${seedNote(seed)}`;
  for (const x of r.results) assert.equal(x.code, "EDNS_TIMEOUT", note);
  assert.equal(r.calls, 2, note);
  assert.equal(r.active, 2, note);
  const hung = new Set(dns.queries.filter((q) => q.endsWith(".search.test")));
  assert.ok(hung.size <= 2, `search-list names asked: ${[...hung].join(", ")}\n${note}`);
  assert.ok(hung.size >= 1, `no search-list name was asked: the hang was not reached\n${note}`);
});
