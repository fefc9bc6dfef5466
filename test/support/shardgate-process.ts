// Launches a real `shardgate` process for process-level tests: writes a temp config file,
// spawns the CLI (the .ts source under tsx when the tests run from source, dist/ JS when they
// run compiled), collects its JSON log lines, reads the bound ports from its "listening" line
// (configs use port 0, so there is no race for free ports), waits for /readyz, and kills it
// on stop(). Every process it starts is tracked so a test's `after` can stop them all.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { reapOnExit } from "./child-reaper.js";
import { CONDITION_DEADLINE_MS, START_DEADLINE_MS, scaled } from "./wait.js";

const FROM_SOURCE = import.meta.url.endsWith(".ts");
const CLI = fileURLToPath(
  new URL(FROM_SOURCE ? "../../proxy/cli.ts" : "../../proxy/cli.js", import.meta.url),
);

/** The argv that runs `shardgate <args>` as a child of this test process. */
export function shardgateArgv(args: readonly string[]): { command: string; args: string[] } {
  const pre = FROM_SOURCE ? ["--import", "tsx"] : [];
  return { command: process.execPath, args: [...pre, CLI, ...args] };
}

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Extra environment variables (merged over the test's environment). */
  env?: Record<string, string>;
  /** Working directory (default: the test's cwd). */
  cwd?: string;
  /**
   * A command that runs shardgate's argv appended to it (a namespace wrapper: cgroup-memory.ts);
   * it must exec it, so that the child's pid is shardgate's.
   */
  prefix?: readonly string[];
}

/** A running (or exited) shardgate child with its output captured. */
export class ShardgateChild {
  readonly child: ChildProcess;
  /** Parsed JSON log lines, in order. */
  readonly lines: LogLine[] = [];
  /** Raw stdout lines that were not JSON (the demo's banner, `start` errors). */
  readonly textLines: string[] = [];
  stderr = "";
  exit: ExitResult | undefined;
  private readonly exited: Promise<ExitResult>;
  private waiters: Array<() => void> = [];
  private partial = "";

  constructor(args: readonly string[], opts: SpawnOptions = {}) {
    const own = shardgateArgv(args);
    const argv =
      opts.prefix === undefined || opts.prefix.length === 0
        ? own
        : { command: opts.prefix[0], args: [...opts.prefix.slice(1), own.command, ...own.args] };
    this.child = reapOnExit(
      spawn(argv.command, argv.args, {
        cwd: opts.cwd,
        env: { ...process.env, ...opts.env },
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    this.child.stdout?.setEncoding("utf8");
    this.child.stderr?.setEncoding("utf8");
    this.child.stdout?.on("data", (chunk: string) => this.onStdout(chunk));
    this.child.stderr?.on("data", (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exit = { code, signal };
        this.notify();
        resolve(this.exit);
      });
    });
    live.add(this);
  }

  private onStdout(chunk: string): void {
    const text = this.partial + chunk;
    const parts = text.split("\n");
    this.partial = parts.pop() ?? "";
    for (const line of parts) {
      if (line === "") continue;
      try {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === "object" && parsed !== null) this.lines.push(parsed as LogLine);
        else this.textLines.push(line);
      } catch {
        this.textLines.push(line);
      }
    }
    this.notify();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Everything the process printed, for assertion messages. */
  output(): string {
    const json = this.lines.map((l) => JSON.stringify(l));
    return [...json, ...this.textLines, this.partial, `--- stderr ---\n${this.stderr}`].join("\n");
  }

  /**
   * Resolves with the first value `probe` returns other than undefined, re-probing on every output
   * and at exit; rejects after `timeoutMs` (scaled), or if the process exits while the probe still fails.
   */
  waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = CONDITION_DEADLINE_MS): Promise<T> {
    const budget = scaled(timeoutMs);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${budget}ms waiting for ${what}\n${this.output()}`));
      }, budget);
      const check = (): void => {
        let value: T | undefined;
        try {
          value = probe();
        } catch (err) {
          cleanup();
          reject(err);
          return;
        }
        if (value !== undefined) {
          cleanup();
          resolve(value);
        } else if (this.exit !== undefined) {
          cleanup();
          reject(
            new Error(
              `process exited (${JSON.stringify(this.exit)}) while waiting for ${what}\n${this.output()}`,
            ),
          );
        } else {
          this.waiters.push(check);
        }
      };
      const cleanup = (): void => clearTimeout(timer);
      check();
    });
  }

  /** The first log line (from `from` on) that matches `pred`. */
  waitForLine(what: string, pred: (l: LogLine) => boolean, timeoutMs?: number, from = 0): Promise<LogLine> {
    return this.waitFor(
      what,
      () => {
        for (let i = from; i < this.lines.length; i++) if (pred(this.lines[i])) return this.lines[i];
        return undefined;
      },
      timeoutMs,
    );
  }

  /** Resolves at the exit; rejects after `timeoutMs` (scaled). */
  waitExit(timeoutMs = CONDITION_DEADLINE_MS): Promise<ExitResult> {
    const budget = scaled(timeoutMs);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`process did not exit within ${budget}ms\n${this.output()}`)),
        budget,
      );
      void this.exited.then((r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (this.exit === undefined) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs` (times TEST_TIME_SCALE). */
  async stop(graceMs = 5_000): Promise<ExitResult> {
    live.delete(this);
    if (this.exit !== undefined) return this.exit;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), scaled(graceMs));
    const r = await this.exited;
    clearTimeout(timer);
    return r;
  }
}

const live = new Set<ShardgateChild>();

/** Stops every process started through this module that is still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

/** Temp directories not yet removed; whatever a test forgets goes when the test process exits. */
const liveTempDirs = new Set<string>();
process.once("exit", () => {
  for (const dir of liveTempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A temp directory with a config file in it; `write` replaces the file (for reload tests). */
export class TempConfig {
  readonly dir: string;
  readonly path: string;

  constructor(yaml: string) {
    this.dir = mkdtempSync(join(tmpdir(), "shardgate-test-"));
    liveTempDirs.add(this.dir);
    this.path = join(this.dir, "shardgate.yaml");
    this.write(yaml);
  }

  write(yaml: string): void {
    writeFileSync(this.path, yaml);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
    liveTempDirs.delete(this.dir);
  }
}

export interface StartOptions extends SpawnOptions {
  /** Extra arguments after `start --config FILE` (e.g. ["--drain-timeout", "500ms"]). */
  args?: string[];
  /** Wait for GET /readyz to answer 200 (default true); false waits only for the listening line. */
  waitReady?: boolean;
  /** Deadline for "listening" and then /readyz; never below START_DEADLINE_MS (a loaded CI machine). */
  timeoutMs?: number;
}

/** A started `shardgate start` process with the addresses it bound. */
export interface RunningShardgate {
  readonly proc: ShardgateChild;
  readonly config: TempConfig;
  /** e.g. "http://127.0.0.1:43121" */
  readonly httpUrl: string;
  readonly adminUrl: string;
  /** Stops the process (SIGKILL after `graceMs`, default ShardgateChild.stop's) and removes the temp config. */
  stop(graceMs?: number): Promise<ExitResult>;
}

/** Writes `yaml` to a temp file and runs `shardgate start --config FILE`; resolves once it serves. */
export async function startShardgate(yaml: string, opts: StartOptions = {}): Promise<RunningShardgate> {
  const config = new TempConfig(yaml);
  const proc = new ShardgateChild(["start", "--config", config.path, ...(opts.args ?? [])], opts);
  const timeoutMs = Math.max(opts.timeoutMs ?? 0, START_DEADLINE_MS);
  try {
    const line = await proc.waitForLine("the listening log line", (l) => l.msg === "listening", timeoutMs);
    const httpUrl = `http://${String(line.http)}`;
    const adminUrl = `http://${String(line.admin)}`;
    if (opts.waitReady ?? true) await waitReady(adminUrl, proc, timeoutMs);
    return {
      proc,
      config,
      httpUrl,
      adminUrl,
      async stop(graceMs?: number) {
        const r = await proc.stop(graceMs);
        config.remove();
        return r;
      },
    };
  } catch (err) {
    await proc.stop();
    config.remove();
    throw err;
  }
}

/** Polls GET /readyz (every 50 ms, bounded by `timeoutMs`, scaled) until it answers 200. */
export async function waitReady(
  adminUrl: string,
  proc: ShardgateChild,
  timeoutMs = CONDITION_DEADLINE_MS,
): Promise<void> {
  const deadline = Date.now() + scaled(timeoutMs);
  let last = "";
  while (Date.now() < deadline) {
    if (proc.exit !== undefined) throw new Error(`shardgate exited before ready\n${proc.output()}`);
    try {
      const res = await fetch(`${adminUrl}/readyz`);
      last = `${res.status} ${await res.text()}`;
      if (res.status === 200) return;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`/readyz not 200 after ${scaled(timeoutMs)}ms (last: ${last})\n${proc.output()}`);
}

// ------------------------------------------------------------------ config and HTTP helpers

export { ISSUE_MINIMAL_CONFIG, issueMinimalConfig } from "./minimal-config.js";

export interface PoolYamlOptions {
  members: ReadonlyArray<{ id: string; port: number; weight?: number }>;
  token?: string;
  /** Extra YAML under the pool (indented by the caller to 4 spaces), e.g. a healthCheck line. */
  poolExtra?: string;
  accessLog?: boolean;
  level?: string;
  listenHttp?: string;
}

/** A one-pool ("users") config keyed on x-user-id, listeners on free ports. */
export function poolConfig(o: PoolYamlOptions): string {
  const members = o.members
    .map(
      (m) =>
        `      - { id: ${m.id}, address: "127.0.0.1:${m.port}"${m.weight === undefined ? "" : `, weight: ${m.weight}`} }`,
    )
    .join("\n");
  return `listen:
  http: ${o.listenHttp ?? "127.0.0.1:0"}
  admin: 127.0.0.1:0
admin:
  token: "${o.token ?? ""}"
log:
  level: ${o.level ?? "info"}
  accessLog: ${o.accessLog ?? true}
pools:
  users:
    algorithm: ring
    members:
${members}
${o.poolExtra ?? ""}
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id, query:user, ip]
`;
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

/** fetch + JSON body (text kept for assertion messages). */
export async function fetchJson(url: string, init?: RequestInit): Promise<JsonResponse> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** Lines of a Prometheus text exposition for metric `name` (exact name, any labels). */
export function metricLines(text: string, name: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

/** The value of the sample `name{labels}` (labels in any order), or undefined when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of metricLines(text, name)) {
    const open = line.indexOf("{");
    const close = line.lastIndexOf("}");
    const labelText = open < 0 ? "" : line.slice(open + 1, close);
    const have = labelText === "" ? [] : labelText.split(",");
    if (have.length === want.length && want.every((w) => have.includes(w))) {
      return Number(line.slice(close < 0 ? name.length : close + 1).trim());
    }
  }
  return undefined;
}

/** Kept here for the callers that import it with the launcher; the one definition is in wait.ts. */
export { eventually } from "./wait.js";
