// A shardgate process started in a mount namespace whose resolv.conf names a DNS double
// (test/support/dns-double.ts): spawn, collect its JSON log lines and stderr, wait for the
// "listening" line and /readyz 200. Also the bounded SIGTERM wait the DNS tests share: the bug
// they guard against is a process that logs "shutdown complete" and then never exits. And
// `dnsFixture()`, what every DNS test file set up alike: the seed, a temporary folder, the DNS
// double and an echo upstream (each started once, on first use), the processes started, the
// cleanup after the file's tests, and a start from a config and resolv.conf settings.

import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { DnsDouble, type DnsMode, mountNamespaceUnavailable, spawnWithResolvConf } from "./dns-double.js";
import { seededRandom, seedNote, testSeed } from "./prng.js";
import { closeAll, type EchoUpstream, startUpstreams } from "./upstreams.js";
import { eventually, scaled } from "./wait.js";

export interface NamespacedShardgate {
  readonly proc: ChildProcess;
  /** Every JSON line printed so far, in order. */
  readonly lines: Array<Record<string, unknown>>;
  /** `host:port` of the proxy listener. */
  readonly httpAddress: string;
  /** `http://host:port` of the proxy listener. */
  readonly http: string;
  /** `http://host:port` of the admin listener. */
  readonly admin: string;
  /** The exit code once the process ends. */
  readonly exited: Promise<number | null>;
  /** The log lines, stderr and `note` (the seed), for failure messages. */
  output(): string;
}

export interface NamespacedStart {
  resolvConf: string;
  configFile: string;
  dataDir: string;
  /** Printed with every failure message (the seed note). */
  note: string;
  /** The process is added here at once, so the test file's `after` can kill it if a wait fails. */
  children: Set<ChildProcess>;
  /** Wait for /readyz 200 too (default true; a pool discovered through a hung name has no member yet). */
  waitReady?: boolean;
  /** Extra environment (e.g. clock-step.ts's, to step its wall clock). */
  env?: Readonly<Record<string, string>>;
}

/** Starts `shardgate start` in its own mount namespace and waits until it is ready. */
export async function startInDnsNamespace(o: NamespacedStart): Promise<NamespacedShardgate> {
  const proc = spawnWithResolvConf(
    o.resolvConf,
    ["start", "--config", o.configFile, "--data-dir", o.dataDir],
    o.env,
  );
  o.children.add(proc);
  const lines: Array<Record<string, unknown>> = [];
  let stderr = "";
  let partial = "";
  proc.stdout?.setEncoding("utf8");
  proc.stderr?.setEncoding("utf8");
  proc.stderr?.on("data", (c: string) => {
    stderr += c;
  });
  proc.stdout?.on("data", (c: string) => {
    const parts = (partial + c).split("\n");
    partial = parts.pop() ?? "";
    for (const l of parts) {
      try {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {}
    }
  });
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const output = (): string =>
    `${lines.map((l) => JSON.stringify(l)).join("\n")}\n--- stderr ---\n${stderr}\n${o.note}`;
  const listening = await eventually(
    "the listening line",
    () => {
      if (proc.exitCode !== null) throw new Error(`exited\n${output()}`);
      return lines.find((l) => l.msg === "listening");
    },
    90_000,
  );
  const httpAddress = String(listening.http);
  const admin = `http://${String(listening.admin)}`;
  if (o.waitReady !== false)
    await eventually(
      "/readyz 200",
      async () => ((await fetch(`${admin}/readyz`)).status === 200 ? true : undefined),
      60_000,
    );
  return { proc, lines, httpAddress, http: `http://${httpAddress}`, admin, exited, output };
}

/** Sends SIGTERM; resolves with the exit code, or "no exit" if the process has not ended within `ms` (scaled). */
export async function sigtermExit(sg: NamespacedShardgate, ms = 40_000): Promise<number | null | string> {
  sg.proc.kill("SIGTERM");
  return Promise.race([
    sg.exited,
    new Promise<string>((r) => setTimeout(() => r("no exit"), scaled(ms)).unref()),
  ]);
}

/** How the namespace's resolv.conf asks the double (dns-double.ts `writeResolvConf`). */
export interface ResolvSettings {
  timeoutS: number;
  attempts: number;
  search?: string;
}

export interface DnsFixture {
  readonly seed: number;
  /** The seeded stream: the double's address is drawn from it first, then the test's choices. */
  readonly random: () => number;
  /** Why a mount namespace cannot be made here (the file's tests skip), or null. */
  readonly skip: string | null;
  /** A temporary folder, removed after the file's tests. */
  readonly dir: string;
  /** Every process started; those still running are killed after the file's tests. */
  readonly children: Set<ChildProcess>;
  /** The DNS double, started on first use and shared by the file's tests. */
  dns(): Promise<DnsDouble>;
  /** The port of one echo upstream, started on first use. */
  upstreamPort(): Promise<number>;
  /** The double (its mode set to `mode`) and the upstream's port: the start of most cases. */
  prepare(mode: DnsMode): Promise<{ dns: DnsDouble; port: number }>;
  /** Writes `dir/<name>.resolv.conf` naming the double (started if need be) and returns its path. */
  resolvConf(name: string, settings: ResolvSettings): Promise<string>;
  /** Writes `yaml` and a resolv.conf, starts shardgate in its namespace (data dir `dir/<name>`) and waits until it is ready (`waitReady: false`: until it listens). */
  start(
    name: string,
    yaml: string,
    settings: ResolvSettings,
    waitReady?: boolean,
    env?: Readonly<Record<string, string>>,
  ): Promise<NamespacedShardgate>;
}

/** Registers the file's `after` (kill what still runs, close the double and upstream, remove the folder). */
export function dnsFixture(defaultSeed: number, dirPrefix: string): DnsFixture {
  const seed = testSeed(defaultSeed);
  const random = seededRandom(seed);
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  const children = new Set<ChildProcess>();
  const upstreams: EchoUpstream[] = [];
  let double: Promise<DnsDouble> | null = null;
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await closeAll(upstreams);
    await (await double?.catch(() => null))?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const dns = (): Promise<DnsDouble> => {
    double ??= DnsDouble.start(random);
    return double;
  };
  const resolvConf = async (name: string, r: ResolvSettings): Promise<string> => {
    const path = join(dir, `${name}.resolv.conf`);
    (await dns()).writeResolvConf(path, r.timeoutS, r.attempts, r.search);
    return path;
  };
  // One start shared by callers that ask at once (a file's cases may run side by side).
  let upstream: Promise<number> | null = null;
  const upstreamPort = (): Promise<number> => {
    upstream ??= startUpstreams(1).then((started) => {
      upstreams.push(...started);
      return started[0].port;
    });
    return upstream;
  };
  return {
    seed,
    random,
    skip: mountNamespaceUnavailable(),
    dir,
    children,
    dns,
    resolvConf,
    upstreamPort,
    async prepare(mode) {
      const d = await dns();
      d.mode = mode;
      return { dns: d, port: await upstreamPort() };
    },
    async start(name, yaml, settings, waitReady, env) {
      const resolv = await resolvConf(name, settings);
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, yaml);
      return startInDnsNamespace({
        resolvConf: resolv,
        configFile: file,
        dataDir: join(dir, name),
        note: seedNote(seed),
        children,
        waitReady,
        env,
      });
    },
  };
}
