// Run as a script inside an unprivileged network namespace (`unshare -rn node <this> ENGINE`),
// by test/outside/fd-limit-local-ports.test.ts: there this process may narrow
// net.ipv4.ip_local_port_range without touching the host. It starts a member and a shardgate
// (both in the namespace), opens client connections to shardgate while ports are plentiful,
// narrows the range to two ports and takes both towards the member, so shardgate's next dial
// to it fails with a real EADDRNOTAVAIL; asks on the open connections, restores the range,
// asks once more, and prints what it saw as one JSON line. The test asserts on it.

import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { connect, Socket } from "node:net";
import { atLimitConfig } from "./at-limit-config.js";
import { startClosingUpstream } from "./closing-upstream.js";
import { askRaw, GET_AT_LIMIT, UPGRADE_AT_LIMIT } from "./raw-ask.js";
import { startShardgate, stopAll } from "./shardgate-process.js";

const RANGE = "/proc/sys/net/ipv4/ip_local_port_range";
/** Listeners bound to port 0 take theirs from here; connections before the squeeze too. */
const WIDE = "32768 60999";
/** Outside WIDE: no listener holds them, so the two connections below take both. */
const NARROW = "61000 61001";
/** Requests at the squeeze: more than the breaker's 3 in a row. */
const ASKED = 5;

export interface PortExhaustionReport {
  /** The errno of a third dial to the member from this process at the squeeze. */
  probeCode: string;
  answers: string[];
  upgrade: string;
  /** Status of a request once the range is wide again. */
  afterStatus: number;
  metrics: string;
  state: unknown;
  warnings: unknown[];
  access: unknown[];
}

function dial(port: number): Promise<Socket | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => resolve(s));
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err));
  });
}

async function main(): Promise<void> {
  const engine = process.argv[2] ?? "undici";
  execFileSync("ip", ["link", "set", "lo", "up"]);
  writeFileSync(RANGE, WIDE);
  const member = await startClosingUpstream({ declineUpgrades: true });
  const memberPort = member.port;
  const held: Socket[] = [];
  try {
    const sg = await startShardgate(atLimitConfig(memberPort), { env: { SHARDGATE_ENGINE: engine } });
    const port = Number(new URL(sg.httpUrl).port);
    const clients: Socket[] = [];
    for (let i = 0; i < ASKED + 1; i++) {
      const c = await dial(port);
      if (!(c instanceof Socket)) throw c;
      clients.push(c);
    }
    writeFileSync(RANGE, NARROW);
    let probeCode = "";
    for (let i = 0; i < 3 && probeCode === ""; i++) {
      const c = await dial(memberPort);
      if (c instanceof Socket) held.push(c);
      else probeCode = c.code ?? String(c);
    }
    const upgrade = await askRaw(clients[0], UPGRADE_AT_LIMIT);
    const answers: string[] = [];
    for (const c of clients.slice(1)) answers.push(await askRaw(c, GET_AT_LIMIT));
    writeFileSync(RANGE, WIDE);
    const after = await fetch(`${sg.httpUrl}/after`, { headers: { "x-user-id": "k" } });
    await after.text();
    const metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
    const state: unknown = await (await fetch(`${sg.adminUrl}/admin/state`)).json();
    const access = await sg.proc.waitFor("the refused requests' access lines", () => {
      const l = sg.proc.lines.filter((x) => x.type === "access" && x.path === "/at-limit");
      return l.length >= ASKED ? l : undefined;
    });
    const warnings = sg.proc.lines.filter((l) => l.code === "EADDRNOTAVAIL");
    for (const c of clients) c.destroy();
    const report: PortExhaustionReport = {
      probeCode,
      answers,
      upgrade,
      afterStatus: after.status,
      metrics,
      state,
      warnings,
      access,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    for (const s of held) s.destroy();
    await stopAll();
    void member.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`port-exhaustion-driver: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
