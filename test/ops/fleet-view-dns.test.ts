// The fleet view (`admin.fleet`) with one neighbour named by a hostname whose DNS hangs.
// Found: the view read its neighbours with the global fetch, which resolves through
// getaddrinfo on libuv's thread pool. Each read queued one more getaddrinfo that held a thread
// for the resolver's whole timeout (150 s here), the hung neighbour's error said only
// "The operation was aborted due to timeout", nothing in shardgate_dns_* moved, and SIGTERM
// did not end the process (its exit joins the hung threads). Now the view resolves through
// the bounded lookup: it answers within its per-peer bound with the other neighbour
// reachable and the hung one unreachable with an error naming the DNS lookup, the lookup is
// counted, the named neighbour is read once DNS answers, and SIGTERM exits 0.
// A real shardgate in a mount namespace whose resolv.conf names a DNS double
// (test/support/dns-double.ts), a real shardgate as the neighbour; loopback only.

import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { DnsDouble, mountNamespaceUnavailable } from "../support/dns-double.js";
import { sigtermExit, startInDnsNamespace } from "../support/dns-process.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { metricValue, poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually, scaled } from "../support/wait.js";

const seed = testSeed(20_261_206);
const random = seededRandom(seed);
const dir = mkdtempSync(join(tmpdir(), "shardgate-fleet-dns-"));
const skip = mountNamespaceUnavailable();
const TOKEN = "fleet-view-dns-token";
const children = new Set<ChildProcess>();
const upstreams: EchoUpstream[] = [];
let dns: DnsDouble | null = null;

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await stopAll();
  await closeAll(upstreams);
  await dns?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Instance {
  admin: string;
  reachable: boolean;
  self?: boolean;
  id?: string;
  role?: string;
  error?: string;
}

test("a fleet neighbour's hostname hangs in DNS: the view answers with the others, names the lookup, and SIGTERM exits 0", {
  skip: skip ?? false,
  timeout: 240_000,
}, async () => {
  dns = await DnsDouble.start(random);
  dns.mode = "silent";
  dns.answerIp = "127.0.0.1";
  upstreams.push(...(await startUpstreams(1, "fd")));
  const members = upstreams.map((u) => ({ id: u.id, port: u.port }));
  // The neighbour: a real shardgate, listed twice, by IP and by the name that hangs.
  const neighbour = await startShardgate(poolConfig({ members, accessLog: false }), {
    args: ["--node-id", "neighbour"],
  });
  const port = new URL(neighbour.adminUrl).port;
  const NAME = "peer.fleet-view-dns.test";
  const byName = `http://${NAME}:${port}`;
  const byIp = neighbour.adminUrl;
  const resolv = join(dir, "resolv.conf");
  // One try of 30 s (glibc's cap), 5 times: a hung getaddrinfo holds its thread 150 s.
  dns.writeResolvConf(resolv, 30, 5);
  const file = join(dir, "sg.yaml");
  writeFileSync(
    file,
    poolConfig({ members, token: TOKEN, accessLog: false }).replace(
      `  token: "${TOKEN}"\n`,
      `  token: "${TOKEN}"\n  fleet: ["${byName}", "${byIp}"]\n`,
    ),
  );
  const sg = await startInDnsNamespace({
    resolvConf: resolv,
    configFile: file,
    dataDir: join(dir, "data"),
    note: seedNote(seed),
    children,
  });
  const fail = (what: string) => (err: unknown) => assert.fail(`${what}: ${String(err)}\n${sg.output()}`);
  const fleet = async (): Promise<Instance[]> => {
    const r = await fetch(`${sg.admin}/admin/fleet`, { signal: AbortSignal.timeout(scaled(15_000)) });
    const text = await r.text();
    assert.equal(r.status, 200, text);
    return (JSON.parse(text) as { instances: Instance[] }).instances;
  };

  // Several reads (each past the view's 500 ms cache), every one answered with the neighbour
  // read by IP and the hung name marked unreachable. Bounded: 5 reads, each within 15 s.
  let slowest = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const view = await fleet();
    slowest = Math.max(slowest, performance.now() - t0);
    const what = JSON.stringify(view);
    assert.equal(view.find((v) => v.self === true)?.role, "leader", what);
    const ip = view.find((v) => v.admin === byIp);
    assert.equal(ip?.reachable, true, what);
    assert.equal(ip?.id, "neighbour", what);
    const named = view.find((v) => v.admin === byName);
    assert.equal(named?.reachable, false, what);
    // Before: "The operation was aborted due to timeout" (nothing about DNS).
    assert.ok(String(named?.error).includes(`DNS lookup of ${NAME}`), what);
    // Past the view's 500 ms cache, so the next read asks again.
    await new Promise((r) => setTimeout(r, 600));
  }
  console.log(`slowest of 5 fleet reads while ${NAME} hangs: ${Math.round(slowest)} ms`);
  await dns.waitQueries((q) => q.includes(NAME), scaled(10_000));
  const dnsTimeouts = await eventually(
    "shardgate_dns_timeouts_total > 0",
    async () => {
      const r = await fetch(`${sg.admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const v = metricValue(await r.text(), "shardgate_dns_timeouts_total", {});
      return v !== undefined && v > 0 ? v : undefined;
    },
    30_000,
    200,
  ).catch(fail("the fleet view's lookup counted"));
  assert.ok(dnsTimeouts > 0);

  // DNS answers: the neighbour is read by its name too.
  dns.mode = "answer";
  await eventually(
    "the named neighbour read once DNS answers",
    async () => ((await fleet()).find((v) => v.admin === byName)?.reachable === true ? true : undefined),
    60_000,
    300,
  ).catch(fail("recovery"));
  const code = await sigtermExit(sg);
  assert.equal(code, 0, `SIGTERM after the neighbour's DNS hung\n${sg.output()}`);
});
