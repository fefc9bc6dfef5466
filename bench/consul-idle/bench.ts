// `npm run bench -- consul-idle [--answers 40] [--sizes 10,3000]`: what one blocking-query
// answer that changes no member costs the Consul watcher (another instance's check output
// moved the service's index, and Consul re-sends the whole service). The watcher runs alone
// in a child process (bench/consul-idle/child.ts); the Consul double (real blocking queries,
// the ~900-byte entries of a real agent) runs here. CPU per answer is the child's CPU over N
// answers less its CPU over as long without answers, from process.cpuUsage (microseconds).

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ConsulDouble } from "../../test/support/consul-double.js";
import { runIfMain } from "../run-if-main.js";

const SERVICE = "idle-svc";
const SPACING_MS = 150;

interface Reading {
  cpu: number;
  ours: number;
  answers: number;
}

async function measure(instances: number, count: number): Promise<{ perAnswer: number; ours: number }> {
  const consul = await ConsulDouble.create({ seed: 16, checkUpdateIntervalMs: 1 });
  const put = async (path: string, body?: unknown) => {
    const res = await fetch(`http://${consul.address}${path}`, { method: "PUT", body: JSON.stringify(body) });
    await res.text();
    if (res.status !== 200) throw new Error(`PUT ${path}: HTTP ${res.status}`);
  };
  for (let i = 0; i < instances; i++)
    await put("/v1/agent/service/register", {
      ID: `i${i}`,
      Name: SERVICE,
      Address: "127.0.0.1",
      Port: 1024 + i,
      Check: { CheckID: `c${i}`, TTL: "1h", Status: "passing" },
    });
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL("./child.js", import.meta.url)), consul.address, SERVICE],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  try {
    let buf = "";
    const waiting: ((line: string) => void)[] = [];
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        waiting.shift()?.(line);
      }
    });
    const line = () =>
      new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("the watcher child did not answer in 120 s")), 120_000);
        waiting.push((l) => {
          clearTimeout(t);
          resolve(l);
        });
      });
    await line(); // synced
    const read = async (): Promise<Reading> => {
      child.stdin.write("r\n");
      const [cpu, ours, answers] = (await line()).split(" ").map(Number);
      return { cpu, ours, answers };
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const parked = async () => {
      const end = performance.now() + 30_000;
      while (consul.blockedQueries(SERVICE) === 0) {
        if (performance.now() > end) throw new Error("the watcher's query was not held within 30 s");
        await sleep(2);
      }
    };
    const span = async (answers: boolean) => {
      const a = await read();
      for (let i = 0; i < count; i++) {
        await parked();
        if (answers) await put(`/v1/agent/check/pass/c1?note=idle-${i}`);
        await sleep(SPACING_MS);
      }
      await parked();
      const b = await read();
      return { cpu: b.cpu - a.cpu, ours: b.ours - a.ours, answers: b.answers - a.answers };
    };
    const quiet = await span(false);
    const busy = await span(true);
    const n = Math.max(1, busy.answers - quiet.answers);
    return { perAnswer: Math.max(0, busy.cpu - quiet.cpu) / n, ours: busy.ours / n };
  } finally {
    child.stdin.end("q\n");
    await new Promise((r) => child.once("exit", r));
    await consul.close();
  }
}

export async function run(argv: string[]): Promise<number> {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const count = Number(value("--answers") ?? 40);
  const sizes = (value("--sizes") ?? "10,3000").split(",").map(Number);
  const rows: { size: number; perAnswer: number; ours: number }[] = [];
  for (const size of sizes) rows.push({ size, ...(await measure(size, count)) });
  console.log(`consul-idle: watcher CPU per answer that changes no member, ${count} answers per size`);
  console.log("| instances | process CPU per answer | of which splitter + apply | vs the smallest |");
  console.log("|---|---|---|---|");
  for (const r of rows)
    console.log(
      `| ${r.size} | ${r.perAnswer.toFixed(2)} ms | ${r.ours.toFixed(2)} ms | ${rows[0].perAnswer > 0 ? `${(r.perAnswer / rows[0].perAnswer).toFixed(1)}x` : "-"} |`,
    );
  return 0;
}

runIfMain(import.meta.url, run);
