// Lets a bench module run on its own (`node --import tsx bench/<name>.ts ...`) as well as
// through bench/run.ts, which imports it and calls run() itself.

import { fileURLToPath } from "node:url";

/** Calls `run(argv)` when the module at `moduleUrl` is the process's entry point; its result is the exit code. */
export function runIfMain(moduleUrl: string, run: (argv: string[]) => Promise<number>): void {
  const entry = process.argv[1];
  if (entry === undefined || fileURLToPath(new URL(`file://${entry}`)) !== fileURLToPath(moduleUrl)) return;
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
