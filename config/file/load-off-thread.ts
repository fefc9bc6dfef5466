// Loading a config file in a worker thread, for a running instance: YAML parsing and schema
// validation cost CPU that grows with the file, and on the event loop that time stalls every
// proxied request (a deeply nested file froze traffic for seconds during a reload). The text
// limits (text-limits.ts) refuse absurd files early; the worker keeps whatever remains off the
// request path, with its own heap cap and a deadline.

import { Worker } from "node:worker_threads";
import type { ConfigError } from "./config-error.js";
import type { ConfigResult } from "./load.js";

const WORKER = new URL(
  import.meta.url.endsWith(".ts") ? "./load-worker.ts" : "./load-worker.js",
  import.meta.url,
);

export interface OffThreadOptions {
  /** Give up after this long (default 30 s): the answer is an error, the running config stays. */
  timeoutMs?: number;
  /** Heap cap of the worker in MB (default 512). */
  maxHeapMb?: number;
}

function failure(found: string, message: string): ConfigResult {
  const e: ConfigError = { path: "", expected: "a loadable config", found, message };
  return { ok: false, errors: [e] };
}

/** loadConfigFile(path, env) run in a worker thread; never throws. */
export function loadConfigFileOffThread(
  path: string,
  env: NodeJS.ProcessEnv,
  opts: OffThreadOptions = {},
): Promise<ConfigResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ConfigResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
      void worker.terminate();
    };
    const worker = new Worker(WORKER, {
      workerData: { path, env: { ...env } },
      resourceLimits: { maxOldGenerationSizeMb: opts.maxHeapMb ?? 512 },
      stdout: false,
      stderr: false,
    });
    const timer = setTimeout(
      () => done(failure(`over ${timeoutMs} ms`, `config load took longer than ${timeoutMs} ms; refused`)),
      timeoutMs,
    );
    worker.once("message", (r: ConfigResult) => done(r));
    worker.once("error", (err: Error) => done(failure(err.message, `config load failed: ${err.message}`)));
    worker.once("exit", (code) => done(failure(`exit ${code}`, `config load worker exited (${code})`)));
  });
}
