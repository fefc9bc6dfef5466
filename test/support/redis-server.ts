// A real redis-server for tests: started on its own free loopback port with no persistence
// (no RDB, no AOF, a temp dir), killed and restarted on the same port to play an outage, and
// stopped at the end. Every server started here is tracked so an `after` can stop them all.
// startRedisOnSocket: one that listens on a unix socket in its temp dir only (no TCP port).

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { reapOnExit } from "./child-reaper.js";
import { freePorts } from "./ports.js";
import { START_DEADLINE_MS, scaled } from "./wait.js";

const live = new Set<RedisServer>();

export class RedisServer {
  port = 0;
  /** The unix socket it listens on instead of a port ("": a loopback port). */
  socketPath = "";
  private proc: ChildProcess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), "shardgate-redis-"));
  private output = "";

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts on a free port (or `port`, to come back at the same address after stop()). */
  async start(port?: number): Promise<this> {
    this.port = this.socketPath !== "" ? 0 : (port ?? (await freePorts(1))[0]);
    const listen =
      this.socketPath !== ""
        ? ["--port", "0", "--unixsocket", this.socketPath, "--unixsocketperm", "700"]
        : ["--port", String(this.port), "--bind", "127.0.0.1"];
    const args = [
      ...listen,
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      this.dir,
      "--protected-mode",
      "no",
      "--loglevel",
      "warning",
    ];
    const proc = reapOnExit(spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] }));
    this.proc = proc;
    live.add(this);
    proc.stdout?.on("data", (c: Buffer) => (this.output += c.toString()));
    proc.stderr?.on("data", (c: Buffer) => (this.output += c.toString()));
    const deadline = Date.now() + scaled(START_DEADLINE_MS);
    while (!(await this.ping())) {
      if (!this.running) throw new Error(`redis-server exited at start:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`redis-server not answering PING:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 30));
    }
    return this;
  }

  /** One raw PING over a fresh connection; true on +PONG. */
  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const s =
        this.socketPath !== ""
          ? createConnection({ path: this.socketPath })
          : createConnection({ host: "127.0.0.1", port: this.port });
      const done = (ok: boolean) => {
        s.destroy();
        resolve(ok);
      };
      s.setTimeout(1000, () => done(false));
      s.once("error", () => done(false));
      s.once("data", (d) => done(d.toString().startsWith("+PONG")));
      s.write("PING\r\n");
    });
  }

  /** Kills the server (SIGKILL: an outage, not a shutdown) and waits for it to exit. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (p === null || !this.running) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await exited;
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the server: connected but not answering. */
  freeze(on: boolean): void {
    if (this.running) this.proc?.kill(on ? "SIGSTOP" : "SIGCONT");
  }

  /** Starts again on the same port (after kill()). */
  async restart(): Promise<void> {
    await this.kill();
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    this.freeze(false);
    await this.kill();
    live.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function startRedis(): Promise<RedisServer> {
  return new RedisServer().start();
}

/** A redis-server listening on `<its temp dir>/redis.sock` only. */
export async function startRedisOnSocket(): Promise<RedisServer> {
  const r = new RedisServer();
  r.socketPath = join(r.dir, "redis.sock");
  return r.start();
}

/** Stops every redis-server started through this module that is still tracked. */
export async function stopAllRedis(): Promise<void> {
  await Promise.all([...live].map((r) => r.stop()));
}
