// Tried from the outside: a fleet whose Raft peers are named by hostnames (as Kubernetes voters
// are, behind a headless Service) while DNS hangs. Found: the transport dialled with
// net.connect({host}), so every dial was a getaddrinfo on libuv's thread pool; with a resolver
// that never answers (150 s here) each instance held both of libuv's getaddrinfo slots, its
// links reported only "handshake_timeout: no challenge from the server" (nothing named the
// lookup), and SIGTERM never ended the process: the exit joined the hung threads. Now the
// transport takes the process's bounded lookup (proxy/net/bounded-lookup.ts, passed in by
// proxy/cluster/peer-dials.ts; config/raft imports nothing of proxy/): a warn line names the
// peer and the lookup's own error, the instance exits on SIGTERM at once, and once the names
// resolve the voters elect a leader and a drain on the leader commits (its log entry written
// and synced in each data directory) and reaches every instance.
// Real shardgate processes in mount namespaces of their own whose resolv.conf names a DNS
// double on 127.x.y.z:53 (test/support/dns-double.ts); every address is loopback.

import assert from "node:assert/strict";
import { test } from "node:test";
import { dnsFixture, type NamespacedShardgate, sigtermExit } from "../support/dns-process.js";
import { freePorts } from "../support/ports.js";
import { metricValue } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const fx = dnsFixture(20_261_212, "shardgate-dns-raft-");
const TOKEN = "dns-raft-peers-test-token";
const SECRET = "dns-raft-peers-cluster-secret-0123456789";
const IDS = ["a", "b", "c"] as const;

const nameOf = (id: string): string => `${id}.raft.dns-raft-peers.test`;

function logLine(sg: NamespacedShardgate, what: string, pred: (l: Record<string, unknown>) => boolean) {
  return eventually(what, () => sg.lines.find(pred), 60_000, 100).catch((err: unknown) =>
    assert.fail(`${String(err)}\n${sg.output()}`),
  );
}

async function getJson(sg: NamespacedShardgate, path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${sg.admin}${path}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(scaled(10_000)),
  });
  return (await res.json()) as Record<string, unknown>;
}

async function metrics(sg: NamespacedShardgate): Promise<string> {
  const res = await fetch(`${sg.admin}/metrics`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(scaled(10_000)),
  });
  return res.text();
}

test("Raft peers named by hostnames whose DNS hangs: the lookup is logged, SIGTERM exits at once, a drain commits once the names resolve", {
  skip: fx.skip ?? false,
  timeout: 300_000,
}, async () => {
  const { dns, port } = await fx.prepare("silent");
  dns.answerIp = "127.0.0.1";
  const raftPorts = await freePorts(IDS.length);
  const raftPort = (id: string): number => raftPorts[IDS.indexOf(id as (typeof IDS)[number])];
  // The Raft listener is an IP (a pod listens on its own address); the peers are names.
  const config = (id: string): string =>
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { token: "${TOKEN}" }
log: { level: info, accessLog: false }
cluster:
  id: ${id}
  listen: 127.0.0.1:${raftPort(id)}
  secret: ${SECRET}
  bootstrap: new
  electionTimeout: 1s
  heartbeat: 100ms
  peers:
${IDS.map((p) => `    - { id: ${p}, address: "${nameOf(p)}:${raftPort(p)}" }`).join("\n")}
pools:
  ip:
    members:
      - { id: i1, address: "127.0.0.1:${port}" }
routes:
  - { match: { pathPrefix: / }, pool: ip, key: [header:x-k] }
`;
  const start = (id: string): Promise<NamespacedShardgate> =>
    fx.start(
      id,
      config(id),
      // One try of 30 s (glibc's cap), 5 times: a hung getaddrinfo holds its thread 150 s.
      { timeoutS: 30, attempts: 5 },
      // No leader while the names hang: no committed state, /readyz is 503.
      false,
    );
  // Started together: each only waits for its listeners (there is no leader to wait for).
  const fleet = new Map<string, NamespacedShardgate>(
    await Promise.all(IDS.map(async (id) => [id, await start(id)] as const)),
  );
  const all = (): string => [...fleet].map(([id, sg]) => `=== ${id}\n${sg.output()}`).join("\n");

  await dns
    .waitQueries((q) => IDS.every((id) => q.includes(nameOf(id))), scaled(30_000))
    .catch((err: unknown) => assert.fail(`${String(err)}\n${all()}`));
  // Each instance says which peer's name does not resolve, with the lookup's own error. The
  // old code said nothing but handshake_timeout refusals ("no challenge from the server").
  for (const [id, sg] of fleet) {
    const peer = IDS.find((p) => p !== id) as string;
    const warn = await logLine(
      sg,
      `${id}: the warn line for peer ${peer}`,
      (l) =>
        l.level === "warn" &&
        l.peer === peer &&
        typeof l.msg === "string" &&
        l.msg.includes("does not resolve"),
    );
    assert.ok(
      typeof warn.err === "string" && warn.err.includes(`DNS lookup of ${nameOf(peer)}`),
      `${id}: the warn line does not name the lookup\n${sg.output()}`,
    );
    const timeouts = metricValue(await metrics(sg), "shardgate_dns_timeouts_total", {});
    assert.ok(timeouts !== undefined && timeouts > 0, `${id}: lookups not counted\n${sg.output()}`);
  }
  // While the names hang: an instance ends on SIGTERM (the old code's exit waited for its
  // hung getaddrinfo threads), then comes back on its data directory.
  const c = fleet.get("c") as NamespacedShardgate;
  const code = await sigtermExit(c);
  assert.equal(code, 0, `SIGTERM while the peers' names hang\n${c.output()}`);
  fleet.set("c", await start("c"));

  // The names resolve: a leader is elected, and a drain on it commits on every instance.
  dns.mode = "answer";
  const leader = await eventually(
    "one leader known to every instance",
    async () => {
      const seen = new Set<string>();
      for (const sg of fleet.values()) {
        const raft = (await getJson(sg, "/admin/state")).raft as { leader?: string } | undefined;
        seen.add(raft?.leader ?? "");
      }
      const [only] = seen;
      return seen.size === 1 && only !== "" && fleet.has(only) ? only : undefined;
    },
    90_000,
    250,
  ).catch((err: unknown) => assert.fail(`${String(err)}\n${all()}`));
  const lead = fleet.get(leader) as NamespacedShardgate;
  // A leader just elected may not have applied the seeded state yet: it answers 503
  // no_committed_state ("retry shortly"), and the drain is retried as a client would.
  const drain = await eventually(
    `the drain on the leader ${leader} past no_committed_state`,
    async () => {
      const res = await fetch(`${lead.admin}/admin/pools/ip/members/i1/drain`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}` },
        signal: AbortSignal.timeout(scaled(20_000)),
      });
      const text = await res.text();
      return res.status === 503 && text.includes("no_committed_state")
        ? undefined
        : { status: res.status, text };
    },
    30_000,
    200,
  ).catch((err: unknown) => assert.fail(`${String(err)}\n${all()}`));
  const body = drain.text;
  assert.equal(drain.status, 200, `drain on the leader ${leader}: ${body}\n${all()}`);
  const ringVersion = (JSON.parse(body) as { ringVersion: number }).ringVersion;
  for (const [id, sg] of fleet) {
    await eventually(
      `${id} applied the drain`,
      async () => {
        const state = await getJson(sg, "/admin/state");
        const raft = state.raft as { appliedIndex: number };
        return raft.appliedIndex >= ringVersion ? true : undefined;
      },
      30_000,
      200,
    ).catch((err: unknown) => assert.fail(`${String(err)}\n${sg.output()}`));
    // a and b ran through the whole hang: each says its peers were reached once they resolved.
    if (id !== "c")
      assert.ok(
        sg.lines.some(
          (l) => typeof l.msg === "string" && l.msg.startsWith("raft peer") && l.msg.includes("connected to"),
        ),
        `${id}: no line says its peers were reached\n${sg.output()}`,
      );
  }
  for (const [id, sg] of fleet) {
    const exit = await sigtermExit(sg);
    assert.equal(exit, 0, `SIGTERM of ${id} after the names resolved\n${sg.output()}`);
  }
});
