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
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { spawnInNamespace } from "../support/dns-double.js";
import { dnsFixture } from "../support/dns-process.js";
import { seedNote } from "../support/prng.js";
import { scaled } from "../support/wait.js";

const fx = dnsFixture(20_261_207, "shardgate-dns-bound-");
const seed = fx.seed;
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const MODULE = fileURLToPath(
  new URL(
    FROM_SOURCE ? "../../proxy/net/bounded-lookup.ts" : "../../proxy/net/bounded-lookup.js",
    import.meta.url,
  ),
);

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
  skip: fx.skip ?? false,
  timeout: 120_000,
}, async () => {
  const dns = await fx.dns();
  // The names themselves: NXDOMAIN (c-ares, then getaddrinfo's first try); with the search
  // domain appended: never answered (getaddrinfo's thread hangs 30 s x 5).
  dns.rule = (name) => (name.endsWith(".search.test") ? "silent" : "nxdomain");
  const resolv = await fx.resolvConf("bound", { timeoutS: 30, attempts: 5, search: "search.test" });
  const pre = FROM_SOURCE ? ["--import", "tsx"] : [];
  const child = spawnInNamespace(resolv, process.execPath, [
    ...pre,
    "--input-type=module",
    "-e",
    SCRIPT,
    MODULE,
  ]);
  fx.children.add(child);
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (c: string) => {
    out += c;
  });
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    err += c;
  });
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
    child.stdout?.on("data", check);
    child.once("exit", (code) => {
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
