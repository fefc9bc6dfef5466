// Tried from the outside: the active health checker of an instance at its own descriptor
// limit. This test process lowers its own soft RLIMIT_NOFILE with `prlimit` and takes the
// descriptors left, so the checker's dials to a real, healthy member on loopback fail with a
// real EMFILE. That is this instance's shortage: the probes give no verdict and the member stays
// healthy (they counted as failures and marked it down after unhealthyThreshold, which the
// leader commits for the whole fleet). Once descriptors are free the probes pass again.
// Second case: a real shardgate (its limit lowered with prlimit, its descriptors taken by
// client connections, as fd-limit-upstream.test.ts does) counts those probes in
// local_resource_exhausted_total{op="health_check"}; they were counted nowhere.

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { test } from "node:test";
import { poolSchema } from "../../config/file/schema.js";
import { ActiveHealthChecker } from "../../health/active-check.js";
import { startClosingUpstream } from "../support/closing-upstream.js";
import { closeAll, fdLimitUnavailable, highestFd, setSoftFdLimit, takeEveryFd } from "../support/fd-limit.js";
import { openClient, takeFreeBelow } from "../support/fd-limit-clients.js";
import { testSeed } from "../support/prng.js";
import { askRaw } from "../support/raw-ask.js";
import { fetchJson, metricValue, startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const SEED = testSeed(7);
const SKIP = fdLimitUnavailable();
/** Probes at the limit before the verdict is read: more than unhealthyThreshold. */
const PROBES_AT_LIMIT = 4;

test("an active check that cannot open a socket (EMFILE) gives no verdict: the member stays healthy", {
  skip: SKIP ?? false,
}, async (t) => {
  // Every answer closes its connection, so every probe needs a fresh socket.
  const member = await startClosingUpstream();
  t.after(() => member.close());
  const port = member.port;
  const hc = poolSchema.parse({
    healthCheck: {
      path: "/health",
      interval: 250,
      timeout: 250,
      unhealthyThreshold: 2,
      healthyThreshold: 1,
    },
  }).healthCheck;
  assert.ok(hc);
  const changes: { healthy: boolean; reason: string }[] = [];
  const checker = new ActiveHealthChecker(
    hc,
    (_id, healthy, reason) => changes.push({ healthy, reason }),
    SEED,
  );
  t.after(() => checker.stop());
  checker.setMembers([{ id: "s1", address: "127.0.0.1", port }]);
  await eventually("the first verdict", () => (checker.observedHealth("s1") === true ? true : undefined));

  // Take every descriptor number below a limit just above this process's highest.
  const taken: number[] = [];
  t.after(() => closeAll(taken));
  takeEveryFd(taken, 64);
  const before = checker.state("s1")?.probes ?? 0;
  const reasons: string[] = [];
  await eventually(`${PROBES_AT_LIMIT} probes at the limit`, () => {
    const st = checker.state("s1");
    if (st === undefined) return undefined;
    if (!reasons.includes(st.lastReason)) reasons.push(st.lastReason);
    return st.probes >= before + PROBES_AT_LIMIT ? st : undefined;
  });
  // Free the descriptors before asserting (node:test needs them to report).
  closeAll(taken);
  assert.ok(
    reasons.some((r) => r.startsWith("EMFILE")),
    `probes met EMFILE: ${JSON.stringify(reasons)}`,
  );
  assert.deepEqual(changes, [{ healthy: true, reason: "status 200" }], "no verdict from EMFILE");
  assert.equal(checker.observedHealth("s1"), true);
  const after = checker.state("s1")?.probes ?? 0;
  await eventually("a probe passes again once descriptors are free", () => {
    const st = checker.state("s1");
    return st !== undefined && st.probes > after && st.lastReason === "status 200" ? true : undefined;
  });
});

/** Descriptor numbers left above shardgate's highest when the limit is set. */
const HEADROOM = 12;

test("a shardgate whose active checks meet EMFILE counts them in local_resource_exhausted_total{op=health_check}", {
  skip: SKIP ?? false,
}, async (t) => {
  const member = await startClosingUpstream();
  t.after(() => member.close());
  const upstreamPort = member.port;
  const clients = new Set<Socket>();
  t.after(async () => {
    for (const s of clients) s.destroy();
    await stopAll();
  });
  const sg = await startShardgate(`listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
log: { level: info }
pools:
  users:
    members: [{ id: s1, address: "127.0.0.1:${upstreamPort}" }]
    healthCheck: { path: /health, interval: 250ms, timeout: 250ms, unhealthyThreshold: 2, healthyThreshold: 1 }
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`);
  const pid = sg.proc.child.pid;
  assert.ok(pid !== undefined);
  const memberHealthy = async () => {
    const st = await fetchJson(`${sg.adminUrl}/admin/state`);
    const pools = (st.body as { pools: { users: { members: { id: string; healthy: boolean }[] } } }).pools;
    return pools.users.members.find((m) => m.id === "s1")?.healthy;
  };
  await eventually("s1 probed healthy", async () => ((await memberHealthy()) === true ? true : undefined));
  // /admin/state is read at the limit on an admin connection opened before it.
  const adminPort = Number(new URL(sg.adminUrl).port);
  const admin = await openClient(adminPort, clients);
  assert.ok(admin !== null);
  const STATE = "GET /admin/state HTTP/1.1\r\nhost: t\r\n\r\n";

  const limit = highestFd(pid) + 1 + HEADROOM;
  setSoftFdLimit(pid, limit);
  const proxyPort = Number(new URL(sg.httpUrl).port);
  let last = "";
  await eventually(`a probe at the limit of ${limit} noted as health_check`, async () => {
    // Keep every descriptor below the limit taken (a probe's closed socket frees one).
    await takeFreeBelow(pid, limit, proxyPort, clients);
    assert.ok(!admin.destroyed, "the admin connection stays open");
    last = await askRaw(admin, STATE);
    const m = /"last":\{"op":"([a-z_]+)","code":"([A-Z]+)"/.exec(last);
    return m !== null && m[1] === "health_check" && m[2] === "EMFILE" ? true : undefined;
  });

  for (const s of clients) s.destroy();
  clients.clear();
  const metrics = await eventually("the metrics once clients left", async () => {
    try {
      const res = await fetch(`${sg.adminUrl}/metrics`);
      return res.status === 200 ? await res.text() : undefined;
    } catch {
      return undefined;
    }
  });
  assert.ok(
    (metricValue(metrics, "shardgate_local_resource_exhausted_total", { op: "health_check" }) ?? 0) >= 1,
    "the probe's shortage counted",
  );
  assert.equal(await memberHealthy(), true, "no verdict from EMFILE");
  assert.equal(sg.proc.exit, undefined, "still running");
});
