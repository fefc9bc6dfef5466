// What importing `@kubernetes/client-node` costs a process that is fsyncing (the Raft leader
// starting its first EndpointSlice watch): each round runs two fresh child processes that
// write + fsync 256 bytes every 5 ms for 3 s (lazy: until its import ended) and time each fsync from call to callback (what
// Raft's Ready pass waits). `lazy` imports the client 1 s in, as the first watch did; `eager`
// imported it before the loop, as the start path now does (health/kubernetes-client.ts).
// Prints p50 / p99 / max per row and the ratio eager / lazy, rounds alternating the order.
//   npm run bench -- kube-client-load [--rounds 3]

import { execFile } from "node:child_process";
import { closeSync, fsync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kubernetesClient } from "../health/kubernetes-client.js";
import { runIfMain } from "./run-if-main.js";

interface Sample {
  p50: number;
  p99: number;
  max: number;
  n: number;
  importMs: number;
}

const quantile = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))];

async function child(mode: "lazy" | "eager"): Promise<Sample> {
  let importMs = 0;
  let loaded = false;
  const load = async () => {
    const t0 = performance.now();
    await kubernetesClient();
    importMs = performance.now() - t0;
    loaded = true;
  };
  if (mode === "eager") await load();
  const dir = mkdtempSync(join(tmpdir(), "sg-kube-load-"));
  const fd = openSync(join(dir, "log"), "w");
  const buf = Buffer.alloc(256, 7);
  const lat: number[] = [];
  const start = performance.now();
  let imported = mode === "eager";
  // 3 s, and in `lazy` until the import has finished (seconds on a loaded machine).
  while (performance.now() - start < 3_000 || !loaded) {
    if (!imported && performance.now() - start > 1_000) {
      imported = true;
      void load();
    }
    writeSync(fd, buf);
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
    lat.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
  fsyncSync(fd);
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  lat.sort((a, b) => a - b);
  return {
    p50: quantile(lat, 0.5),
    p99: quantile(lat, 0.99),
    max: lat[lat.length - 1],
    n: lat.length,
    importMs,
  };
}

function spawnChild(mode: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fileURLToPath(import.meta.url), "--child", mode], (err, stdout) => {
      if (err) reject(err);
      else resolve(JSON.parse(stdout) as Sample);
    });
  });
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === "--child") {
    process.stdout.write(JSON.stringify(await child(argv[1] === "eager" ? "eager" : "lazy")));
    return 0;
  }
  const ri = argv.indexOf("--rounds");
  const rounds = ri >= 0 ? Number(argv[ri + 1]) : 3;
  const f = (x: number) => x.toFixed(2).padStart(8);
  console.log(
    `kube-client-load: fsync latency (call to callback) while @kubernetes/client-node is imported; ${cpus().length} cores, load ${loadavg()[0].toFixed(2)}`,
  );
  console.log("round | row   |   p50 ms |   p99 ms |   max ms |    n | import ms | p99 eager/lazy");
  for (let r = 1; r <= rounds; r++) {
    const order = r % 2 === 1 ? ["lazy", "eager"] : ["eager", "lazy"];
    const got: Record<string, Sample> = {};
    for (const mode of order) got[mode] = await spawnChild(mode);
    for (const mode of ["lazy", "eager"]) {
      const s = got[mode];
      const ratio = mode === "eager" ? `${(s.p99 / got.lazy.p99).toFixed(3)}x` : "(peer)";
      console.log(
        `${String(r).padStart(5)} | ${mode.padEnd(5)} | ${f(s.p50)} | ${f(s.p99)} | ${f(s.max)} | ${String(s.n).padStart(4)} | ${f(s.importMs).padStart(9)} | ${ratio}`,
      );
    }
  }
  return 0;
}

runIfMain(import.meta.url, run);
