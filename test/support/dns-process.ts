// A shardgate process started in a mount namespace whose resolv.conf names a DNS double
// (test/support/dns-double.ts): spawn, collect its JSON log lines and stderr, wait for the
// "listening" line and /readyz 200. Also the bounded SIGTERM wait the DNS tests share: the bug
// they guard against is a process that logs "shutdown complete" and then never exits.

import type { ChildProcess } from "node:child_process";
import { spawnWithResolvConf } from "./dns-double.js";
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
}

/** Starts `shardgate start` in its own mount namespace and waits until it is ready. */
export async function startInDnsNamespace(o: NamespacedStart): Promise<NamespacedShardgate> {
  const proc = spawnWithResolvConf(o.resolvConf, [
    "start",
    "--config",
    o.configFile,
    "--data-dir",
    o.dataDir,
  ]);
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
