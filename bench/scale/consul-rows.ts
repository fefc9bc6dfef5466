// Consul row of the scale bench: one instance of a Consul service going critical (then passing
// again) until /admin/route on a standalone shardgate skips (then uses) it, at a small and a
// large service. Consul is the test double (test/support/consul-double.ts: real blocking-query
// semantics, TTL checks, answering through the same `consul` client), in this process; its
// answer for 3,000 instances is the ~2.7 MB JSON a real agent sends. The figure runs from the
// double marking the check to a poll of /admin/route seeing it, and includes the membership
// controller's debounce (200 ms by default), so the target is debounce + 50 ms.

import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_DISCOVERY_DEBOUNCE_MS } from "../../config/file/schema.js";
import { ConsulDouble } from "../../test/support/consul-double.js";
import { shardgateArgv } from "../../test/support/shardgate-process.js";
import { cpuSeconds, freePort, rssBytes, stopChild, waitHttp } from "../proxy-bench.js";
import { ADMIN_TOKEN, median, type Upstream } from "./processes.js";

/** The membership controller's quiet time before it proposes (`discovery.debounce`, left at its default here). */
export const DEBOUNCE_MS = DEFAULT_DISCOVERY_DEBOUNCE_MS;
const SERVICE = "scale-svc";
/**
 * Pause between two /admin/route polls. Back to back, the poller (in this process, next to
 * the Consul double) and the proxy answering it took CPU from the very path being timed on a
 * 2-core machine; 2 ms adds at most that much to a figure.
 */
const POLL_MS = 2;

export interface ConsulFigure {
  readonly instances: number;
  /** Median ms from the double marking the check to /admin/route showing it (critical and passing alike). */
  readonly ms: number;
  /** Median ms from the double marking the check to it having written its blocking-query answer. */
  readonly answerMs: number;
  /** Median CPU ms the proxy spent from the check update to the route showing it (all threads). */
  readonly cpuMs: number;
  /** Proxy RSS growth over all the changes, MB. */
  readonly rssGrowthMb: number;
  /** Proxy RSS growth over the first change alone, MB (the "+26 MB for one change"). */
  readonly rssFirstChangeMb: number;
  /**
   * Proxy CPU ms per blocking-query answer that changes no member (another instance's check
   * output moved the service's index), net of the proxy's idle CPU over as long.
   */
  readonly idleAnswerCpuMs: number;
  readonly changes: number;
}

interface RouteView {
  member: string | null;
}

async function put(consul: ConsulDouble, path: string, body?: unknown): Promise<void> {
  const res = await fetch(`http://${consul.address}${path}`, {
    method: "PUT",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.text();
  if (res.status !== 200) throw new Error(`PUT ${path}: HTTP ${res.status}`);
}

async function routeMember(admin: string, key: string): Promise<string | null> {
  const res = await fetch(`${admin}/admin/route?pool=svc&key=${encodeURIComponent(key)}`);
  return ((await res.json()) as RouteView).member;
}

function configText(http: number, admin: number, consul: string): string {
  return (
    `listen:\n  http: 127.0.0.1:${http}\n  admin: 127.0.0.1:${admin}\n` +
    `admin:\n  token: ${ADMIN_TOKEN}\nlog:\n  level: warn\n  accessLog: false\n` +
    `discovery:\n  consul: { address: "http://${consul}", wait: 10s }\n` +
    `pools:\n  svc:\n    algorithm: ring\n    discovery: { consul: { service: ${SERVICE} } }\n` +
    `routes:\n  - match: { pathPrefix: / }\n    pool: svc\n    key: [header:x-key, ip]\n`
  );
}

async function measureOne(
  dir: string,
  upstream: Upstream,
  instances: number,
  repeats: number,
  nodeArgs: readonly string[],
): Promise<ConsulFigure> {
  // Output-only check updates reach the catalog 1 ms later instead of Consul's 5 minutes, so
  // the idle-answer figure has answers to count; status changes are synced at once either way.
  const consul = await ConsulDouble.create({ seed: 16, checkUpdateIntervalMs: 1 });
  const name = `consul-${instances}`;
  let child: ReturnType<typeof spawn> | undefined;
  try {
    for (let i = 0; i < instances; i++) {
      const [host, port] = upstream.addresses[i % upstream.addresses.length].split(":");
      await put(consul, "/v1/agent/service/register", {
        ID: `i${i}`,
        Name: SERVICE,
        Address: host,
        Port: Number(port),
        Check: { CheckID: `c${i}`, TTL: "1h", Status: "passing" },
      });
    }
    const [http, admin] = [await freePort(), await freePort()];
    const configPath = join(dir, `${name}.yaml`);
    writeFileSync(configPath, configText(http, admin, consul.address));
    const dataDir = join(dir, `${name}-data`);
    mkdirSync(dataDir, { recursive: true });
    const logFd = openSync(join(dir, `${name}.log`), "w");
    const argv = shardgateArgv(["start", "--config", configPath, "--data-dir", dataDir]);
    child = spawn(argv.command, [...nodeArgs, ...argv.args], { stdio: ["ignore", logFd, "inherit"] });
    closeSync(logFd);
    const adminUrl = `http://127.0.0.1:${admin}`;
    await waitHttp(`${adminUrl}/readyz`, 120_000);
    // Wait for the first Consul answer to be committed: every instance routable.
    const key = "consul-probe-key";
    const deadline = performance.now() + 60_000;
    let owner: string | null = null;
    while (owner === null && performance.now() < deadline) {
      owner = await routeMember(adminUrl, key);
      if (owner === null) await new Promise((r) => setTimeout(r, 50));
    }
    if (owner === null) throw new Error(`no member for ${key} after 60 s (${instances} instances)`);
    const check = `c${owner.slice(1)}`;
    const pid = child.pid ?? 0;
    const rss0 = rssBytes(pid);
    const samples: number[] = [];
    const until = async (pred: (m: string | null) => boolean, t0: number): Promise<number> => {
      const end = t0 + 30_000;
      while (performance.now() < end) {
        if (pred(await routeMember(adminUrl, key))) return performance.now() - t0;
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      throw new Error(`route did not change within 30 s (${instances} instances)`);
    };
    const cpu: number[] = [];
    const answers: number[] = [];
    let rssFirst = rss0;
    for (let r = 0; r < repeats; r++) {
      for (const fail of [true, false]) {
        await parked(consul);
        const c0 = cpuSeconds(pid);
        const sent = performance.now();
        await put(consul, `/v1/agent/check/${fail ? "fail" : "pass"}/${check}`);
        // From the moment the double marked the check (inside the PUT's handler): the bench's
        // own HTTP request to the double is neither Consul's time nor ours.
        const changedAt = consul.lastStatusChangeAt;
        if (changedAt === undefined || changedAt < sent)
          throw new Error(`${check}: the PUT changed no status`);
        const t0 = changedAt;
        samples.push(await until((m) => (fail ? m !== owner : m === owner), t0));
        // The double answers the watcher's blocking query inside the PUT's handler (or when the
        // watcher's next query arrives); an answer from before the update is not this change's.
        const answeredAt = consul.lastHealthAnswerAt;
        if (answeredAt !== undefined && answeredAt >= t0) answers.push(answeredAt - t0);
        cpu.push(1000 * (cpuSeconds(pid) - c0));
        if (samples.length === 1) rssFirst = rssBytes(pid);
      }
    }
    const idleAnswerCpuMs = await idleAnswerCpu(consul, pid, owner === "i0" ? "c1" : "c0");
    return {
      instances,
      idleAnswerCpuMs,
      ms: median(samples),
      answerMs: answers.length > 0 ? median(answers) : Number.NaN,
      cpuMs: median(cpu),
      rssGrowthMb: (rssBytes(pid) - rss0) / 2 ** 20,
      rssFirstChangeMb: (rssFirst - rss0) / 2 ** 20,
      changes: samples.length,
    };
  } finally {
    if (child !== undefined) await stopChild(child);
    await consul.close();
  }
}

/**
 * Waits until the watcher's blocking query is held by the double, as a lone change finds it.
 * The watcher paces its queries (2 a second, burst 4): changes made back to back, as fast as
 * the bench sees them applied, would soon wait for its next token, and the row would time
 * that pacing instead of one change.
 */
async function parked(consul: ConsulDouble): Promise<void> {
  const end = performance.now() + 30_000;
  while (consul.blockedQueries(SERVICE) === 0) {
    if (performance.now() > end) throw new Error("the watcher's blocking query was not held within 30 s");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Answers of the idle figure, and their spacing (the watcher's default rate is 2 a second). */
const IDLE_ANSWERS = 10;
const IDLE_SPACING_MS = 600;

/** Proxy CPU per answer that changes no member, less its CPU over as long without answers. */
async function idleAnswerCpu(consul: ConsulDouble, pid: number, check: string): Promise<number> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const span = async (answers: boolean): Promise<number> => {
    const c0 = cpuSeconds(pid);
    for (let i = 0; i < IDLE_ANSWERS; i++) {
      if (answers) await put(consul, `/v1/agent/check/pass/${check}?note=idle-${i}`);
      await sleep(IDLE_SPACING_MS);
    }
    return 1000 * (cpuSeconds(pid) - c0);
  };
  const quiet = await span(false);
  const busy = await span(true);
  return Math.max(0, busy - quiet) / IDLE_ANSWERS;
}

export async function measureConsul(
  dir: string,
  upstream: Upstream,
  sizes: readonly number[],
  repeats: number,
  /** Extra node flags for the proxy (e.g. --cpu-prof to see where a change's time goes). */
  nodeArgs: readonly string[] = [],
): Promise<ConsulFigure[]> {
  const out: ConsulFigure[] = [];
  for (const n of sizes) out.push(await measureOne(dir, upstream, n, repeats, nodeArgs));
  return out;
}
