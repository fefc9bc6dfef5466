// Runs the shardgate CLI (`shardgate ctl ...`, `shardgate validate ...`) as a real child process
// and returns its exit code and output, for tests of the operator CLI.

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { reapOnExit } from "./child-reaper.js";
import { shardgateArgv } from "./shardgate-process.js";
import { scaled } from "./wait.js";

export interface CtlRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `shardgate ctl ARGS...` (no admin token from the test's environment unless `env` sets one). */
export function runCtl(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
  stdin?: string,
): Promise<CtlRun> {
  return runShardgate(["ctl", ...args], env, timeoutMs, stdin);
}

/** `shardgate ARGS...` (`stdin`: written to its standard input, then closed); rejects when it does not exit within `timeoutMs`. */
export function runShardgate(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
  stdin?: string,
): Promise<CtlRun> {
  return runShardgateUnder([], args, env, timeoutMs, stdin);
}

/**
 * runShardgate with shardgate's command line handed to `launcher` (a command and its first
 * arguments, e.g. one that enters a namespace of its own and then runs the rest), or run
 * directly when `launcher` is empty.
 */
export function runShardgateUnder(
  launcher: readonly string[],
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
  stdin?: string,
): Promise<CtlRun> {
  const argv = shardgateArgv(args);
  const [command, ...commandArgs] = [...launcher, argv.command, ...argv.args];
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!("SHARDGATE_ADMIN_TOKEN" in env)) delete childEnv.SHARDGATE_ADMIN_TOKEN;
  return new Promise((resolve, reject) => {
    const child = reapOnExit(
      // stdin is a pipe ended at once when nothing is given: EOF, as /dev/null gives.
      spawn(command, commandArgs, { env: childEnv, stdio: ["pipe", "pipe", "pipe"] }),
    );
    child.stdin.on("error", () => {}); // a CLI that exits before reading all of it: EPIPE, not a crash
    child.stdin.end(stdin ?? "");
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    const budget = scaled(timeoutMs);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`shardgate ${args.join(" ")} did not exit within ${budget}ms\n${stdout}${stderr}`));
    }, budget);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let validated = 0;

/** `shardgate validate` on `text`, written to a new file in `dir`; `what` tells the whole run for an assertion's message. */
export async function validateText(dir: string, text: string): Promise<{ r: CtlRun; what: string }> {
  const file = join(dir, `validate-${process.pid}-${validated++}.yaml`);
  writeFileSync(file, text);
  const r = await runShardgate(["validate", "--config", file]);
  return { r, what: `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}` };
}
