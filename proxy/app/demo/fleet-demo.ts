// `shardgate demo [--port 8080] [--admin-port 9901] [--raft-port 7401] [--data-dir DIR]`:
// a whole fleet on loopback with no outside services: four built-in echo upstreams and four
// `shardgate start` processes (three Raft voters and one learner) that agree on one ring.
// Prints the dashboard URL and curl lines (sticky routing through any instance, drain through
// any instance, kill the leader), and on Ctrl-C stops every instance gracefully and removes
// the temp directory. Port 0 picks free ports. Instances are separate processes so that
// killing the leader is a real `kill PID`.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { errorText } from "../../../config/coded-error.js";
import { adminRequest } from "../../net/admin-request.js";
import { parseCommandFlags } from "../command-flags.js";
import { type EchoUpstream, startEchoUpstream } from "../echo-upstream.js";
import { cliCommand } from "./cli-command.js";
import {
  DEMO_DEFAULT_PORTS,
  DEMO_LEARNERS,
  DEMO_POOL,
  DEMO_UPSTREAMS,
  DEMO_VOTERS,
  type DemoInstance,
  type DemoPorts,
  demoInstanceArgs,
  demoInstances,
  demoInstanceYaml,
} from "./fleet-demo-settings.js";
import { freeLoopbackPorts } from "./free-ports.js";
import { parsePort } from "./single-demo.js";

const USAGE = `usage: shardgate demo [--port 8080] [--admin-port 9901] [--raft-port 7401] [--data-dir DIR]
       shardgate demo --single [--port 8080] [--admin-port 9901]
Instance i of the fleet uses port base+i; a base of 0 picks free ports.`;
const CLI = fileURLToPath(
  new URL(import.meta.url.endsWith(".ts") ? "../../cli.ts" : "../../cli.js", import.meta.url),
);
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

interface Running {
  inst: DemoInstance;
  child: ChildProcess;
  exited: Promise<void>;
  logPath: string;
}

async function portsFor(base: { http: number; admin: number; raft: number }, n: number): Promise<DemoPorts> {
  // Every port-0 range comes from one pick, so the http, admin and raft ports never collide.
  const zeros = [base.http, base.admin, base.raft].filter((b) => b === 0).length;
  const free = await freeLoopbackPorts(zeros * n);
  const range = (b: number): number[] =>
    b === 0 ? free.splice(0, n) : Array.from({ length: n }, (_, i) => b + i);
  return { http: range(base.http), admin: range(base.admin), raft: range(base.raft) };
}

async function getJson(url: string): Promise<unknown> {
  const r = await adminRequest(url, { signal: AbortSignal.timeout(2_000) });
  if (r.statusCode !== 200) {
    await r.body.dump();
    throw new Error(`${url}: ${r.statusCode}`);
  }
  return r.body.json();
}

interface RaftBrief {
  leader?: string;
  learners?: string[];
}

/** Waits until every instance answers and names the same leader, with the learner in place. */
async function waitAgreed(running: readonly Running[]): Promise<string> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  let last = "no answer yet";
  while (performance.now() < deadline) {
    for (const r of running)
      if (r.child.exitCode !== null || r.child.signalCode !== null)
        throw new Error(`instance ${r.inst.id} exited while starting (its log is below)`);
    try {
      const states = await Promise.all(
        running.map((r) => getJson(`http://127.0.0.1:${r.inst.adminPort}/admin/state`)),
      );
      const rafts = states.map((s) => (s as { raft?: RaftBrief }).raft ?? {});
      const leader = rafts[0].leader ?? "";
      const agreed =
        leader !== "" &&
        rafts.every((r) => r.leader === leader && DEMO_LEARNERS.every((l) => r.learners?.includes(l)));
      if (agreed) return leader;
      last = JSON.stringify(rafts);
    } catch (err) {
      last = errorText(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the fleet did not agree on a leader within ${START_TIMEOUT_MS} ms: ${last}`);
}

function spawnInstance(inst: DemoInstance, dir: string): Running {
  const logPath = join(dir, `${inst.id}.log`);
  const fd = openSync(logPath, "a");
  // Own process group: a terminal's Ctrl-C reaches the demo only, which then stops each
  // instance once (a second signal would make an instance skip its drain).
  const child = spawn(process.execPath, [...process.execArgv, CLI, ...demoInstanceArgs(inst)], {
    stdio: ["ignore", fd, fd],
    detached: true,
  });
  closeSync(fd);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return { inst, child, exited, logPath };
}

function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function banner(
  running: readonly Running[],
  leader: string,
  token: string,
  dir: string,
  temp: boolean,
): string {
  const a = running[0].inst;
  const b = running[1].inst;
  const proxyA = `http://127.0.0.1:${a.httpPort}`;
  const proxyB = `http://127.0.0.1:${b.httpPort}`;
  const adminA = `http://127.0.0.1:${a.adminPort}`;
  const adminB = `http://127.0.0.1:${b.adminPort}`;
  const lead = running.find((r) => r.inst.id === leader);
  const other = running.find((r) => r.inst.id !== leader) ?? running[0];
  const proxyOther = `http://127.0.0.1:${other.inst.httpPort}`;
  const rows = running.map(
    (r) =>
      `  ${r.inst.id.padEnd(3)}${(r.inst.voter ? "voter" : "learner").padEnd(9)}proxy http://127.0.0.1:${r.inst.httpPort}  admin http://127.0.0.1:${r.inst.adminPort}  raft 127.0.0.1:${r.inst.raftPort}  pid ${r.child.pid}`,
  );
  return [
    "",
    `shardgate demo: a fleet of ${DEMO_VOTERS.length} voters + ${DEMO_LEARNERS.length} learner is running (Ctrl-C to stop)`,
    "",
    ...rows,
    `  upstreams ${DEMO_UPSTREAMS.join(" ")} (built-in echo servers)`,
    `  state     ${dir}${temp ? " (removed on exit)" : ""}`,
    `  leader    ${leader}`,
    "",
    `Dashboard: ${adminA}/ui`,
    "",
    "Sticky routing: the same key reaches the same upstream through any instance:",
    `  curl -s -H 'x-user-id: alice' ${proxyA}/`,
    `  curl -s -H 'x-user-id: alice' ${proxyB}/`,
    "Why that upstream (key hash, ring owner, skipped members):",
    `  curl -s '${adminB}/admin/route?pool=${DEMO_POOL}&key=alice'`,
    "Drain a member through one instance, watch every instance agree (undrain to undo):",
    `  export SHARDGATE_ADMIN_TOKEN=${token}`,
    `  ${cliCommand(CLI)} ctl --admin ${adminB} drain ${DEMO_POOL} u1`,
    `  curl -s -X POST -H "authorization: Bearer $SHARDGATE_ADMIN_TOKEN" ${adminB}/admin/pools/${DEMO_POOL}/members/u1/drain`,
    `  ${cliCommand(CLI)} ctl --admin ${adminA} status`,
    "Kill the leader and watch nothing fail (a new one is elected within ~2 s):",
    `  kill ${lead?.child.pid ?? "<leader pid>"}     # instance ${leader}`,
    `  for i in $(seq 50); do curl -s -o /dev/null -w '%{http_code} ' -H "x-user-id: u$i" ${proxyOther}/; done; echo`,
    "",
  ].join("\n");
}

export async function runFleetDemo(argv: string[]): Promise<number> {
  const flags = parseCommandFlags("demo", USAGE, argv, {
    port: { type: "string" },
    "admin-port": { type: "string" },
    "raft-port": { type: "string" },
    "data-dir": { type: "string" },
  });
  if (!flags.ok) return flags.exitCode;
  const v = flags.values;
  const http = parsePort(v.port, DEMO_DEFAULT_PORTS.http, "port");
  const admin = parsePort(v["admin-port"], DEMO_DEFAULT_PORTS.admin, "admin-port");
  const raft = parsePort(v["raft-port"], DEMO_DEFAULT_PORTS.raft, "raft-port");
  for (const p of [http, admin, raft])
    if (typeof p === "string") {
      console.error(`shardgate demo: ${p}\n${USAGE}`);
      return 2;
    }
  if (v["data-dir"] === "") {
    console.error(`shardgate demo: --data-dir needs a value\n${USAGE}`);
    return 2;
  }
  const temp = v["data-dir"] === undefined;
  const dir = temp ? mkdtempSync(join(tmpdir(), "shardgate-demo-")) : resolve(v["data-dir"] as string);
  const n = DEMO_VOTERS.length + DEMO_LEARNERS.length;
  const upstreams: EchoUpstream[] = [];
  const running: Running[] = [];
  let stopping: Promise<number> | undefined;

  const stopAll = async (): Promise<void> => {
    for (const r of running)
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill("SIGTERM");
    const deadline = new Promise<void>((r) => setTimeout(r, STOP_TIMEOUT_MS).unref());
    await Promise.race([Promise.all(running.map((r) => r.exited)), deadline]);
    for (const r of running)
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill("SIGKILL");
    await Promise.all(running.map((r) => r.exited));
    await Promise.all(upstreams.map((u) => u.close()));
    if (temp) rmSync(dir, { recursive: true, force: true });
  };
  // Whatever happens to the demo, no instance outlives it.
  const killLeft = (): void => {
    for (const r of running)
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill("SIGKILL");
  };
  process.once("exit", killLeft);
  // Signal handlers first: a Ctrl-C at any moment, even while the fleet starts or right after
  // the banner, stops the fleet cleanly (later signals during the stop are ignored).
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  const signalled = new Promise<NodeJS.Signals>((resolveSignal) => {
    onSignal = (signal) => resolveSignal(signal);
  });
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const stopOn = async (signal: NodeJS.Signals): Promise<number> => {
    console.log(`\n${signal}: stopping the fleet...`);
    stopping = stopAll().then(
      () => 0,
      (err: unknown) => {
        console.error(`shardgate demo: stop failed: ${String(err)}`);
        return 1;
      },
    );
    const code = await stopping;
    console.log("shardgate demo: stopped");
    return code;
  };

  try {
    for (const id of DEMO_UPSTREAMS) upstreams.push(await startEchoUpstream(id));
    const ports = await portsFor({ http: http as number, admin: admin as number, raft: raft as number }, n);
    const instances = demoInstances(dir, ports);
    const token = randomBytes(12).toString("hex");
    const secret = randomBytes(24).toString("hex");
    for (const inst of instances) {
      mkdirSync(join(dir, inst.id), { recursive: true });
      writeFileSync(inst.configPath, demoInstanceYaml(inst, instances, upstreams, token, secret), {
        mode: 0o600,
      });
    }
    for (const inst of instances) running.push(spawnInstance(inst, dir));
    let leader: string;
    try {
      const first = await Promise.race([waitAgreed(running), signalled.then((sig) => ({ sig }))]);
      if (typeof first !== "string") return await stopOn(first.sig);
      leader = first;
    } catch (err) {
      console.error(`shardgate demo: ${errorText(err)}`);
      for (const r of running) console.error(`--- ${r.inst.id} (${r.logPath})\n${tail(r.logPath)}`);
      if (!temp) console.error("(a --data-dir from an earlier run with other ports cannot be reused)");
      console.error(
        `ports taken? pick others: ${cliCommand(CLI)} demo --port 0 --admin-port 0 --raft-port 0`,
      );
      await stopAll();
      return 1;
    }
    for (const r of running)
      void r.exited.then(() => {
        if (stopping === undefined)
          console.log(
            `instance ${r.inst.id} exited (${r.child.signalCode ?? `code ${r.child.exitCode}`}); the others keep serving. Restart it with:\n  ${process.execPath} ${CLI} ${demoInstanceArgs(r.inst).join(" ")}`,
          );
      });
    console.log(banner(running, leader, token, dir, temp));
    return await stopOn(await signalled);
  } catch (err) {
    await stopAll();
    throw err;
  } finally {
    process.off("exit", killLeft);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
