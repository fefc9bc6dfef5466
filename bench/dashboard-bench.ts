// Dashboard cost benchmark (issue 14): what ten open dashboards cost the instance that serves
// them. A 3-instance fleet (real processes, admin.fleet set so the dashboard fans out to every
// instance) in front of 4 upstreams; instance a takes a steady autocannon load while N pollers
// each GET /admin/dashboard once a second, as an open page does. Phases alternate, without and
// with dashboards, and the table prints each figure side by side with the ratio:
//   proxy throughput (req/s) and p99 under load; CPU of instance a per second, under load and idle.
// Usage: npm run bench -- dashboard [--dashboards 10] [--seconds 6] [--rounds 2] [--connections 20]

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { staticPoolYaml } from "../test/support/cluster/static-pool.js";
import { FleetCluster } from "../test/support/cluster-launcher.js";
import { consulTarget } from "../test/support/consul/target.js";
import { closeAll, startUpstreams } from "../test/support/upstreams.js";
import { positiveIntArg } from "./args.js";
import { runIfMain } from "./run-if-main.js";

interface AutocannonResult {
  requests: { average: number };
  latency: { p99: number };
  errors: number;
  non2xx: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

interface Options {
  dashboards: number;
  seconds: number;
  rounds: number;
  connections: number;
}

function parse(argv: string[]): Options {
  const num = (name: string, dflt: number): number => positiveIntArg(argv, name, dflt);
  return {
    dashboards: num("--dashboards", 10),
    seconds: num("--seconds", 6),
    rounds: num("--rounds", 2),
    connections: num("--connections", 20),
  };
}

/** CPU seconds (user + system) the process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `n` pollers, each fetching the dashboard feed every second until stopped; returns a stop() giving the count. */
function startPollers(adminUrl: string, n: number): () => Promise<{ polls: number; failures: number }> {
  let stopped = false;
  let polls = 0;
  let failures = 0;
  const loops = Array.from({ length: n }, async (_, i) => {
    await new Promise((r) => setTimeout(r, (1000 * i) / n));
    while (!stopped) {
      const t0 = performance.now();
      try {
        const r = await fetch(`${adminUrl}/admin/dashboard`, { signal: AbortSignal.timeout(5_000) });
        await r.text();
        if (r.ok) polls++;
        else failures++;
      } catch {
        failures++;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (performance.now() - t0))));
    }
  });
  return async () => {
    stopped = true;
    await Promise.all(loops);
    return { polls, failures };
  };
}

interface Phase {
  rps: number;
  p99: number;
  cpuLoaded: number;
  cpuIdle: number;
  errors: number;
}

export async function run(argv: string[]): Promise<number> {
  const o = parse(argv);
  const consul = await consulTarget({ seed: 1404 });
  const ups = await startUpstreams(4, "u");
  const routing = staticPoolYaml(ups, "random");
  const cluster = await FleetCluster.start({
    ids: ["a", "b", "c"],
    voters: 3,
    consulAddress: consul.address,
    routingYaml: routing,
    adminFleet: true,
    accessLog: false,
    level: "warn",
  });
  try {
    await cluster.waitConverged({ timeoutMs: 30_000 });
    const a = cluster.nodes[0];
    const pid = a.pid as number;
    const measure = async (dashboards: number): Promise<Phase> => {
      const stop =
        dashboards > 0 ? startPollers(a.adminUrl, dashboards) : async () => ({ polls: 0, failures: 0 });
      await new Promise((r) => setTimeout(r, 1_000));
      const idle0 = cpuSeconds(pid);
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, o.seconds * 1000));
      const cpuIdle = (cpuSeconds(pid) - idle0) / ((performance.now() - t0) / 1000);
      const c0 = cpuSeconds(pid);
      const t1 = performance.now();
      const res = await autocannon({
        url: `${a.httpUrl}/`,
        connections: o.connections,
        duration: o.seconds,
        headers: { "x-user-id": "bench" },
      });
      const cpuLoaded = (cpuSeconds(pid) - c0) / ((performance.now() - t1) / 1000);
      const polled = await stop();
      return {
        rps: res.requests.average,
        p99: res.latency.p99,
        cpuLoaded,
        cpuIdle,
        errors: res.errors + res.non2xx + polled.failures,
      };
    };
    const without: Phase[] = [];
    const withDash: Phase[] = [];
    for (let r = 0; r < o.rounds; r++) {
      without.push(await measure(0));
      withDash.push(await measure(o.dashboards));
    }
    const mean = (xs: Phase[], k: keyof Phase) => xs.reduce((s, x) => s + x[k], 0) / xs.length;
    const rows: Array<[string, keyof Phase, number]> = [
      ["proxy throughput (req/s)", "rps", 0],
      ["proxy p99 (ms)", "p99", 1],
      ["instance CPU under load (cores)", "cpuLoaded", 3],
      ["instance CPU idle (cores)", "cpuIdle", 4],
    ];
    console.log(
      `\ndashboard cost: instance a of a 3-instance fleet, ${o.connections} connections, ${o.seconds}s phases x ${o.rounds} rounds\n`,
    );
    console.log(
      `${"metric".padEnd(34)}${"0 dashboards".padStart(14)}${`${o.dashboards} dashboards`.padStart(16)}${"ratio".padStart(9)}`,
    );
    for (const [label, k, digits] of rows) {
      const x = mean(without, k);
      const y = mean(withDash, k);
      const ratio = x === 0 ? "-" : (y / x).toFixed(3);
      console.log(
        `${label.padEnd(34)}${x.toFixed(digits).padStart(14)}${y.toFixed(digits).padStart(16)}${ratio.padStart(9)}`,
      );
    }
    const errors = [...without, ...withDash].reduce((s, p) => s + p.errors, 0);
    console.log(`\nerrors (proxy non-2xx + failed dashboard polls): ${errors}`);
    return errors === 0 ? 0 : 1;
  } finally {
    await cluster.stop();
    await closeAll(ups);
    await consul.close();
  }
}

runIfMain(import.meta.url, run);
