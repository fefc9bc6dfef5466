// Tried from the outside: the discovery sources misbehaving under a real shardgate process,
// one fault after another, against the Consul double (an agent that takes the blocking query
// and never answers, answers 500, garbage JSON, a body cut off, an X-Consul-Index that goes
// backwards) and the Kubernetes API double (a watch answered 410 Gone, watches cut every
// second, lists answering 500). Each fault must give a clear log line and a metric
// (shardgate_discovery_errors_total, or shardgate_discovery_resyncs_total for a source that
// made the watcher start over), leave the committed membership as it was (the pools keep
// serving), and be followed by recovery (a change made after it is followed).
// Found: nothing counted any of these (the watchers' error streaks were visible only in a warn
// line at the start of a streak); an index reset and a 410 re-list were an info line only.
// The in-process watcher tests (test/health/consul-watcher.test.ts, kube-api-double.test.ts)
// cover the same faults' mechanics; this is the process an operator runs.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, type TestContext, test } from "node:test";
import { ConsulDouble, type HealthFault } from "../support/consul-double.js";
import { registerService } from "../support/consul-double-register.js";
import type { KubeApiDouble } from "../support/kube-api-double.js";
import { kubeServingApp } from "../support/kube-app-double.js";
import { seedNote, testSeed } from "../support/prng.js";
import { metricValue, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually, scaled } from "../support/wait.js";

const seed = testSeed(20_261_209);
const note = seedNote(seed);
const dir = mkdtempSync(join(tmpdir(), "shardgate-discovery-faults-"));
const TOKEN = "discovery-faults-test-token";
const closers: Array<() => Promise<unknown>> = [];
let ups: EchoUpstream[] = [];

after(async () => {
  await stopAll();
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await closeAll(ups);
  rmSync(dir, { recursive: true, force: true });
});

type Line = Record<string, unknown>;

interface Setup {
  sg: RunningShardgate;
  consul: ConsulDouble;
  kube: KubeApiDouble;
}

let upstreamsStarted: Promise<void> | undefined;
let setup: Promise<Setup> | undefined;
let hangSetup: Promise<Setup> | undefined;

function register(consul: ConsulDouble, id: string, port: number): Promise<void> {
  return registerService(consul, id, "faults-api", port);
}

/** The three upstreams every shardgate here routes to, started once. */
function upstreams(): Promise<void> {
  upstreamsStarted ??= startUpstreams(3, "df").then((u) => {
    ups = u;
  });
  return upstreamsStarted;
}

/**
 * One shardgate watching both doubles, shared by the tests (each leaves its source healthy): the
 * first caller of either group starts it, the other awaits the same start.
 */
function started(): Promise<Setup> {
  setup ??= start("shared", "2s");
  return setup;
}

/**
 * The Consul hang case's own doubles and shardgate: it alone waits out the watcher's request
 * timeout, so it runs beside the other Consul cases instead of after them, and its fault must
 * not reach their agent. Its blocking queries wait 1 s, so that timeout is ~11 s (wait + wait/16
 * + 10 s), and the query in flight when the hang is set returns within the second.
 */
function startedForHang(): Promise<Setup> {
  hangSetup ??= start("hang", "1s");
  return hangSetup;
}

/** `name` keeps its kubeconfig apart; `wait` is its Consul blocking queries' wait. */
async function start(name: string, wait: string): Promise<Setup> {
  await upstreams();
  const consul = await ConsulDouble.create({ seed });
  closers.push(() => consul.close());
  await register(consul, "c1", ups[0].port);
  await register(consul, "c2", ups[1].port);
  const kube = await kubeServingApp(ups[2].port);
  closers.push(() => kube.close());
  const kubeconfig = kube.writeKubeconfig(join(dir, `kubeconfig-${name}`));
  const sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
admin: { token: "${TOKEN}" }
log: { level: info, accessLog: false }
discovery:
  consul: { address: "http://${consul.address}", wait: ${wait} }
pools:
  api:
    discovery: { consul: { service: faults-api } }
  app:
    discovery: { kubernetes: { service: app, namespace: default, port: http, kubeconfig: ${kubeconfig} } }
routes:
  - { match: { pathPrefix: /app }, pool: app, key: [header:x-k] }
  - { match: { pathPrefix: / }, pool: api, key: [header:x-k] }
`,
  );
  closers.push(() => sg.stop());
  return { sg, consul, kube };
}

function output(sg: RunningShardgate): string {
  return `${sg.proc.output()}\n${note}`;
}

async function adminJson(sg: RunningShardgate, path: string): Promise<unknown> {
  const res = await fetch(`${sg.adminUrl}${path}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(scaled(10_000)),
  });
  return path === "/metrics" ? res.text() : res.json();
}

/** The committed members of `pool`: "id address healthy", sorted. */
async function members(sg: RunningShardgate, pool: string): Promise<string[]> {
  const state = (await adminJson(sg, "/admin/state")) as {
    pools: Record<string, { members: Array<{ id: string; address: string; healthy: boolean }> }>;
  };
  return (state.pools[pool]?.members ?? []).map((m) => `${m.id} ${m.address} ${m.healthy}`).sort();
}

async function counter(sg: RunningShardgate, name: string, labels: Record<string, string>): Promise<number> {
  return metricValue((await adminJson(sg, "/metrics")) as string, name, labels) ?? 0;
}

async function serves(sg: RunningShardgate, path: string): Promise<void> {
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`${sg.httpUrl}${path}`, {
      headers: { "x-k": `k${i}` },
      signal: AbortSignal.timeout(scaled(10_000)),
    });
    await res.arrayBuffer();
    assert.equal(res.status, 200, `${path} while the source misbehaves\n${output(sg)}`);
  }
}

function lineAfter(
  sg: RunningShardgate,
  what: string,
  from: number,
  pred: (l: Line) => boolean,
): Promise<Line> {
  return eventually(
    what,
    () => sg.proc.lines.slice(from).find((l) => pred(l as Line)) as Line | undefined,
    60_000,
    100,
  ).catch((err: unknown) => assert.fail(`${String(err)}\n${output(sg)}`));
}

function msgIs(prefix: string): (l: Line) => boolean {
  return (l) => typeof l.msg === "string" && l.msg.startsWith(prefix);
}

async function waitMembers(sg: RunningShardgate, pool: string, want: string[]): Promise<void> {
  await eventually(
    `${pool} members ${JSON.stringify(want)}`,
    async () => (JSON.stringify(await members(sg, pool)) === JSON.stringify(want) ? true : undefined),
    60_000,
    200,
  ).catch(async (err: unknown) =>
    assert.fail(`${String(err)}; have ${JSON.stringify(await members(sg, pool))}\n${output(sg)}`),
  );
}

const CONSUL_FAULTS: Array<{ name: string; set(c: ConsulDouble): void; err: RegExp }> = [
  { name: "500", set: (c) => c.setFailure(500, "No cluster leader"), err: /HTTP 500.*No cluster leader/ },
  ...(["garbage", "truncated", "hang"] as HealthFault[]).map((f) => ({
    name: f,
    set: (c: ConsulDouble) => c.setHealthFault(f),
    err:
      f === "truncated"
        ? /cut off after \d+ body bytes/
        : f === "hang"
          ? /timed out/
          : /JSON|Unexpected|token/i,
  })),
];

type ConsulFault = (typeof CONSUL_FAULTS)[number];

/**
 * A Consul fault on `gate`'s agent: logged, counted, the last good members kept and serving,
 * then followed again once the agent answers (the fault is cleared whatever happens).
 */
async function consulFaultCase(
  t: TestContext,
  fault: ConsulFault,
  gate: () => Promise<Setup>,
): Promise<void> {
  const { sg, consul } = await gate();
  // A failed assertion must not leave the fault on for the next case.
  t.after(() => {
    consul.setFailure(undefined);
    consul.setHealthFault(undefined);
  });
  const want = [`c1 127.0.0.1:${ups[0].port} true`, `c2 127.0.0.1:${ups[1].port} true`];
  await waitMembers(sg, "api", want);
  const labels = { pool: "api", source: "consul" };
  const before = await counter(sg, "shardgate_discovery_errors_total", labels);
  const from = sg.proc.lines.length;
  fault.set(consul);
  const warn = await lineAfter(sg, "the consul watch failure", from, msgIs("consul watch failed"));
  assert.match(String(warn.err), fault.err, output(sg));
  assert.equal(warn.service, "faults-api");
  assert.ok((await counter(sg, "shardgate_discovery_errors_total", labels)) > before, output(sg));
  // Nothing lost: the committed members are the last good answer's, and they serve.
  assert.deepEqual(await members(sg, "api"), want, output(sg));
  await serves(sg, "/api");
  // Recovery: the agent answers again, and a change made meanwhile is followed.
  consul.setFailure(undefined);
  consul.setHealthFault(undefined);
  await register(consul, "c3", ups[2].port);
  await lineAfter(sg, "the consul watch recovery", from, msgIs("consul watch recovered"));
  await waitMembers(sg, "api", [...want, `c3 127.0.0.1:${ups[2].port} true`]);
  const dereg = await fetch(`http://${consul.address}/v1/agent/service/deregister/c3`, {
    method: "PUT",
  });
  assert.equal(dereg.status, 200);
  await waitMembers(sg, "api", want);
}

const consulCaseName = (fault: ConsulFault): string =>
  `the Consul agent answers ${fault.name}: logged, counted, membership kept, recovery`;

// The Consul cases fault a Consul double and its api pool, the Kubernetes cases the API double
// and the app pool; each reads only its own source's log lines and counters. So the groups run
// side by side on the one shardgate, each group's cases one after another (a nested suite would
// inherit the outer one's concurrency). The Consul hang alone waits out the watcher's request
// timeout (~11 s, about the other Consul cases together): it has its own double and shardgate
// and runs as a third group beside the two.
describe("discovery sources misbehaving under a real shardgate", { concurrency: true }, () => {
  describe("Consul", { concurrency: 1 }, () => {
    for (const fault of CONSUL_FAULTS.filter((f) => f.name !== "hang")) {
      test(consulCaseName(fault), { timeout: 180_000 }, (t) => consulFaultCase(t, fault, started));
    }

    test("the Consul index goes backwards (a snapshot restore): reset to 0 logged and counted, membership kept, changes followed", {
      timeout: 180_000,
    }, async () => {
      const { sg, consul } = await started();
      const want = [`c1 127.0.0.1:${ups[0].port} true`, `c2 127.0.0.1:${ups[1].port} true`];
      await waitMembers(sg, "api", want);
      const labels = { pool: "api", source: "consul", reason: "index_reset" };
      const before = await counter(sg, "shardgate_discovery_resyncs_total", labels);
      const from = sg.proc.lines.length;
      consul.setIndexBackwards(2);
      const line = await lineAfter(sg, "the index reset line", from, msgIs("consul index went backwards"));
      assert.equal(line.to, 2, output(sg));
      await eventually(
        "the index reset counted",
        async () =>
          (await counter(sg, "shardgate_discovery_resyncs_total", labels)) > before ? true : undefined,
        30_000,
        200,
      ).catch((err: unknown) => assert.fail(`${String(err)}\n${output(sg)}`));
      assert.deepEqual(await members(sg, "api"), want, output(sg));
      await serves(sg, "/api");
      // Following on from index 0: a registration after the restore is seen.
      await register(consul, "c3", ups[2].port);
      await waitMembers(sg, "api", [...want, `c3 127.0.0.1:${ups[2].port} true`]);
      const dereg = await fetch(`http://${consul.address}/v1/agent/service/deregister/c3`, { method: "PUT" });
      assert.equal(dereg.status, 200);
      await waitMembers(sg, "api", want);
    });
  });

  describe("Consul, its own agent and shardgate", () => {
    const hang = CONSUL_FAULTS.find((f) => f.name === "hang") as ConsulFault;
    test(consulCaseName(hang), { timeout: 180_000 }, (t) => consulFaultCase(t, hang, startedForHang));
  });

  describe("Kubernetes", { concurrency: 1 }, () => {
    test("the Kubernetes watch answers 410 Gone: re-list logged and counted, membership kept, changes followed", {
      timeout: 180_000,
    }, async () => {
      const { sg, kube } = await started();
      const want = [`p1 127.0.0.1:${ups[2].port} true`];
      await waitMembers(sg, "app", want);
      const labels = { pool: "app", source: "kubernetes", reason: "gone" };
      const before = await counter(sg, "shardgate_discovery_resyncs_total", labels);
      const from = sg.proc.lines.length;
      kube.expireWatches();
      await lineAfter(sg, "the 410 line", from, msgIs("endpointslice watch expired (410 Gone)"));
      await eventually(
        "the 410 counted",
        async () =>
          (await counter(sg, "shardgate_discovery_resyncs_total", labels)) > before ? true : undefined,
        30_000,
        200,
      ).catch((err: unknown) => assert.fail(`${String(err)}\n${output(sg)}`));
      assert.deepEqual(await members(sg, "app"), want, output(sg));
      await serves(sg, "/app");
      kube.putSlice("default", "app-2", "app", [{ pod: "p2", ip: "127.0.0.1" }], {
        name: "http",
        port: ups[0].port,
      });
      await waitMembers(sg, "app", [...want, `p2 127.0.0.1:${ups[0].port} true`].sort());
      kube.deleteSlice("default", "app-2");
      await waitMembers(sg, "app", want);
    });

    test("Kubernetes watches cut every second and lists answering 500: logged once a streak, counted, membership kept, recovery", {
      timeout: 180_000,
    }, async (t) => {
      const { sg, kube } = await started();
      t.after(() => kube.failNextLists(0));
      const want = [`p1 127.0.0.1:${ups[2].port} true`];
      await waitMembers(sg, "app", want);
      const labels = { pool: "app", source: "kubernetes" };
      const before = await counter(sg, "shardgate_discovery_errors_total", labels);
      const from = sg.proc.lines.length;
      // Bounded: 8 cuts, one a second; every re-list in that time answers 500 too.
      kube.failNextLists(1000, "app");
      for (let i = 0; i < 8; i++) {
        kube.breakWatches();
        await new Promise((r) => setTimeout(r, 1000));
        await serves(sg, "/app");
      }
      const warn = await lineAfter(
        sg,
        "the watch failure",
        from,
        msgIs("kubernetes endpointslice watch failed"),
      );
      assert.equal(warn.service, "app", output(sg));
      // One warn line per streak, not one per cut: a streak ends only with a "recovered" line (a
      // bookmark or an event between two cuts), so warn lines are at most recoveries + 1.
      const window = sg.proc.lines.slice(from) as Line[];
      const failures = window.filter(msgIs("kubernetes endpointslice watch failed")).length;
      const recoveries = window.filter(msgIs("endpointslice watch recovered")).length;
      assert.ok(
        failures <= recoveries + 1,
        `${failures} warn lines, ${recoveries} recoveries\n${output(sg)}`,
      );
      assert.ok((await counter(sg, "shardgate_discovery_errors_total", labels)) > before, output(sg));
      assert.deepEqual(await members(sg, "app"), want, output(sg));
      kube.failNextLists(0);
      kube.putSlice("default", "app-2", "app", [{ pod: "p2", ip: "127.0.0.1" }], {
        name: "http",
        port: ups[0].port,
      });
      await lineAfter(sg, "the watch recovery", from, msgIs("endpointslice watch recovered"));
      await waitMembers(sg, "app", [...want, `p2 127.0.0.1:${ups[0].port} true`].sort());
      kube.deleteSlice("default", "app-2");
      await waitMembers(sg, "app", want);
    });
  });
});
