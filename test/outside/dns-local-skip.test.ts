// Tried from the outside: a pool member named by a hostname that does not resolve (NXDOMAIN)
// beside an IP member. A member that refuses connections is skipped locally for 2 s (README
// "Routing, keys and forwarding"); one whose name did not resolve was not: every request
// whose key it owns tried it again (an `upstream_dns` failure, answered from the negative
// cache), then retried on the next member, until the breaker opened. Now `upstream_dns`
// skips the member locally like a refusal: within the skip, its keys go to the next member
// on the first attempt. Seen in the access log's `attempts`. Then the lookup's own figures on
// /metrics (shardgate_dns_*: none were exported), checked by promtool.
// A real shardgate process in a mount namespace of its own whose resolv.conf names a DNS
// double on 127.x.y.z:53 (test/support/dns-double.ts); loopback only.

import assert from "node:assert/strict";
import { test } from "node:test";
import { dnsFixture } from "../support/dns-process.js";
import { promtoolCheckMetrics } from "../support/promtool.js";
import { eventually, scaled } from "../support/wait.js";

const fx = dnsFixture(20_261_208, "shardgate-dns-skip-");
const NAME = "member.dns-local-skip.test";

test("a member whose name does not resolve is skipped locally, as one that refuses connections", {
  skip: fx.skip ?? false,
  timeout: 180_000,
}, async () => {
  const { dns, port } = await fx.prepare("nxdomain");
  const sg = await fx.start(
    "skip",
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: true }
pools:
  two:
    # Breakers stay closed: only the local skip keeps requests away from the unresolved member.
    breaker: { consecutiveFailures: 100000, minRequests: 100000 }
    members:
      - { id: named, address: "${NAME}:${port}" }
      - { id: ip, address: "127.0.0.1:${port}" }
routes:
  - { match: { pathPrefix: / }, pool: two, key: [header:x-k] }
`,
    { timeoutS: 2, attempts: 1 },
  );
  const output = sg.output;

  // 60 requests, one after another, with random keys: about half are owned by `named`.
  const from = sg.lines.length;
  const started = Date.now();
  const n = 60;
  for (let i = 0; i < n; i++) {
    const key = `k${Math.floor(fx.random() * 1e9)}`;
    const res = await fetch(`${sg.http}/x`, {
      headers: { "x-k": key },
      signal: AbortSignal.timeout(scaled(10_000)),
    });
    await res.text();
    assert.equal(res.status, 200, `key ${key}\n${output()}`);
  }
  const elapsed = Date.now() - started;
  const requests = await eventually(
    "an access log line per request",
    () => {
      const got = sg.lines.slice(from).filter((l) => l.msg === "request");
      return got.length >= n ? got : undefined;
    },
    20_000,
  );
  assert.ok(dns.queries.includes(NAME), `the member's name was never asked\n${output()}`);
  const retried = requests.filter((l) => l.attempts === 2).length;
  // Every one went to the IP member; one that tried `named` first took 2 attempts. With the
  // local skip (2 s) that is at most one request per 2 s (plus one); the old code: every key
  // `named` owns (about 30 here).
  const bound = Math.ceil(elapsed / 2000) + 1;
  assert.ok(retried >= 1, `no request tried the unresolved member first\n${output()}`);
  assert.ok(
    retried <= bound,
    `${retried} of ${n} requests tried the unresolved member in ${elapsed} ms (bound ${bound})\n${output()}`,
  );
  for (const l of requests) assert.equal(l.member, "ip", `${JSON.stringify(l)}\n${output()}`);

  // The lookup's figures on /metrics (shardgate_dns_*), and promtool accepts them: the name
  // was asked of DNS and failed not_found (NXDOMAIN).
  const text = await (
    await fetch(`${sg.admin}/metrics`, { signal: AbortSignal.timeout(scaled(20_000)) })
  ).text();
  const dnsLines = text.split("\n").filter((l) => /^(# (HELP|TYPE) )?shardgate_dns_/.test(l));
  const value = (series: string): number => {
    const line = dnsLines.find((l) => l.startsWith(`${series} `));
    assert.ok(line !== undefined, `${series} missing from /metrics:\n${dnsLines.join("\n")}`);
    return Number(line.slice(series.length + 1));
  };
  assert.ok(value("shardgate_dns_queries_total") >= 1, dnsLines.join("\n"));
  assert.ok(value('shardgate_dns_failures_total{kind="not_found"}') >= 1, dnsLines.join("\n"));
  assert.equal(value('shardgate_dns_failures_total{kind="timeout"}'), 0, dnsLines.join("\n"));
  assert.equal(value("shardgate_dns_getaddrinfo_in_flight"), 0, dnsLines.join("\n"));
  // The name DNS did not know went to getaddrinfo too (the search list); the skip kept later
  // requests from asking again, so cache hits may be 0.
  assert.ok(value("shardgate_dns_getaddrinfo_calls_total") >= 1, dnsLines.join("\n"));
  value("shardgate_dns_cache_hits_total");
  value("shardgate_dns_timeouts_total");
  const lint = await promtoolCheckMetrics(`${dnsLines.join("\n")}\n`);
  assert.equal(lint.code, 0, lint.out);
  assert.equal(lint.out.trim(), "", `promtool findings on shardgate_dns_*: ${lint.out}`);

  sg.proc.kill("SIGTERM");
  assert.equal(await sg.exited, 0, output());
});
