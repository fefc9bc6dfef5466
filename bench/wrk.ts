// Runs wrk (one thread) with a Lua script whose done() prints one `BENCH_JSON {...}` line, and
// returns that summary. The proxy and scale benchmarks both drive their load this way.

import { spawn } from "node:child_process";

export interface WrkRun {
  url: string;
  /** A Lua script file that prints `BENCH_JSON {...}` from done(). */
  script: string;
  seconds: number;
  connections: number;
  /** Extra environment for the script (wrk passes its own environment to Lua's os.getenv). */
  env?: Record<string, string>;
  /** Runs wrk pinned to this CPU (taskset -c), or anywhere when absent. */
  cpu?: number;
}

/** The numbers of the script's BENCH_JSON line; rejects when wrk fails or prints none. */
export async function runWrkScript(run: WrkRun): Promise<Record<string, number>> {
  const out = await new Promise<string>((resolve, reject) => {
    const wrkArgs = ["-t1", `-c${run.connections}`, `-d${run.seconds}s`, "-s", run.script, run.url];
    const child = spawn(
      run.cpu === undefined ? "wrk" : "taskset",
      run.cpu === undefined ? wrkArgs : ["-c", String(run.cpu), "wrk", ...wrkArgs],
      {
        env: run.env === undefined ? process.env : { ...process.env, ...run.env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let text = "";
    child.stdout.on("data", (c: Buffer) => {
      text += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      text += c.toString();
    });
    child.on("exit", (code) =>
      code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`)),
    );
  });
  const m = /BENCH_JSON (\{.*\})/.exec(out);
  if (m === null) throw new Error(`wrk printed no summary: ${out}`);
  return JSON.parse(m[1]) as Record<string, number>;
}
