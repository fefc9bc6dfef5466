// A DNS server for tests, on a UDP port 53 of a loopback address of its own (127.x.y.z, so
// tests running side by side do not collide), and a way to run a shardgate process whose
// resolver uses it: a mount namespace of its own (`unshare -m`) where a resolv.conf naming
// that address is bind-mounted over /etc/resolv.conf. The product path stays the real one:
// getaddrinfo reads that file as in production. Modes: "silent" (reads every query, never
// answers: a resolver that hangs), "nxdomain", "servfail", "answer" (A: `answerIp`, AAAA: none).

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { reapOnExit } from "./child-reaper.js";
import { shardgateArgv } from "./shardgate-process.js";

export type DnsMode = "silent" | "nxdomain" | "servfail" | "answer";

/** Why a mount namespace cannot be made here, or null when it can. */
export function mountNamespaceUnavailable(): string | null {
  try {
    execFileSync("unshare", ["-m", "--", "sh", "-c", "mount --bind /dev/null /dev/null"], { stdio: "pipe" });
    return null;
  } catch (err) {
    return `unshare -m with a bind mount is not permitted here (needs root or CAP_SYS_ADMIN): ${String(err).split("\n")[0]}`;
  }
}

export class DnsDouble {
  mode: DnsMode = "silent";
  /** A mode per query name, over `mode` when it returns one. */
  rule: ((name: string) => DnsMode | undefined) | null = null;
  answerIp = "127.0.0.1";
  /** Query names seen, in order (one per datagram). */
  readonly queries: string[] = [];
  private readonly socket: Socket = createSocket("udp4");
  private waiters: Array<() => void> = [];

  private constructor(readonly address: string) {
    this.socket.on("message", (msg, rinfo) => this.onQuery(msg, rinfo.address, rinfo.port));
    this.socket.on("error", () => {});
  }

  /** Binds port 53 on the first free 127.a.b.c that `random` picks (a few tries). */
  static async start(random: () => number): Promise<DnsDouble> {
    let last: unknown;
    for (let i = 0; i < 8; i++) {
      const ip = `127.${1 + Math.floor(random() * 250)}.${Math.floor(random() * 250)}.${1 + Math.floor(random() * 250)}`;
      const d = new DnsDouble(ip);
      try {
        await new Promise<void>((resolve, reject) => {
          d.socket.once("error", reject);
          d.socket.bind(53, ip, () => resolve());
        });
        return d;
      } catch (err) {
        last = err;
        d.socket.close();
      }
    }
    throw new Error(`no loopback address with a free UDP port 53: ${String(last)}`);
  }

  /** A resolv.conf naming this server, written to `path`: `timeoutS` seconds a try (glibc caps it at 30), a `search` list if given. */
  writeResolvConf(path: string, timeoutS: number, attempts = 1, search?: string): void {
    const searchLine = search === undefined ? "" : `search ${search}\n`;
    writeFileSync(
      path,
      `nameserver ${this.address}\n${searchLine}options timeout:${timeoutS} attempts:${attempts}\n`,
    );
  }

  /** Resolves once `pred` holds over the queries seen (checked on each query); rejects after `ms`. */
  waitQueries(pred: (q: readonly string[]) => boolean, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`DNS double: condition not met in ${ms} ms; queries ${JSON.stringify(this.queries)}`),
          ),
        ms,
      );
      const check = (): void => {
        if (pred(this.queries)) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      check();
    });
  }

  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }

  private onQuery(msg: Buffer, host: string, port: number): void {
    const q = parseQuestion(msg);
    if (q === null) return;
    this.queries.push(q.name);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
    const mode = this.rule?.(q.name) ?? this.mode;
    if (mode === "silent") return;
    const rcode = mode === "nxdomain" ? 3 : mode === "servfail" ? 2 : 0;
    const answer = mode === "answer" && q.type === 1;
    const head = Buffer.alloc(12);
    msg.copy(head, 0, 0, 2); // id
    head.writeUInt16BE(0x8180 | rcode, 2); // response, RD, RA
    head.writeUInt16BE(1, 4);
    head.writeUInt16BE(answer ? 1 : 0, 6);
    const question = msg.subarray(12, q.end);
    const parts = [head, question];
    if (answer) {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(5, 6); // TTL
      rr.writeUInt16BE(4, 10);
      const octets = this.answerIp.split(".").map(Number);
      for (let i = 0; i < 4; i++) rr[12 + i] = octets[i];
      parts.push(rr);
    }
    this.socket.send(Buffer.concat(parts), port, host);
  }
}

function parseQuestion(msg: Buffer): { name: string; type: number; end: number } | null {
  if (msg.length < 17) return null;
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    const n = msg[i];
    if (n > 63 || i + 1 + n > msg.length) return null;
    labels.push(msg.toString("latin1", i + 1, i + 1 + n));
    i += 1 + n;
  }
  if (i + 5 > msg.length) return null;
  return { name: labels.join("."), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

/**
 * Spawns `shardgate <args>` in a mount namespace of its own whose /etc/resolv.conf is
 * `resolvConf` (the process then execs node: its pid is shardgate's). Reaped with the test file.
 */
export function spawnWithResolvConf(
  resolvConf: string,
  args: readonly string[],
  env?: Readonly<Record<string, string>>,
): ChildProcess {
  const argv = shardgateArgv(args);
  return spawnInNamespace(resolvConf, argv.command, argv.args, env);
}

/**
 * Spawns `command args` in a mount namespace whose /etc/resolv.conf is `resolvConf`, with `env`
 * over the test's environment. Reaped with the test file.
 */
export function spawnInNamespace(
  resolvConf: string,
  command: string,
  args: readonly string[],
  env?: Readonly<Record<string, string>>,
): ChildProcess {
  const script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"';
  return reapOnExit(
    spawn("unshare", ["-m", "--", "sh", "-c", script, resolvConf, command, ...args], {
      env: env === undefined ? undefined : { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
}
