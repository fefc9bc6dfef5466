// The flags that say how an instance starts, shared by `start` and `validate`: a start command
// line with `start` replaced by `validate` checks exactly what that start would check (the
// node id from --node-id, the data directory, --bootstrap, --workers), instead of passing a
// file that start then refuses.

import { parseCliDuration } from "../../config/file/units.js";
import { parseCommandFlags } from "../app/command-flags.js";
import type { AppOptions } from "../app.js";
import { parseWorkersFlag } from "../workers/worker-count.js";

export const START_FLAGS_USAGE =
  "--config FILE [--drain-timeout 10s] [--node-id ID] [--data-dir DIR] [--bootstrap] [--workers N|auto]";

const OPTIONS = {
  config: { type: "string", short: "c" },
  "drain-timeout": { type: "string" },
  "node-id": { type: "string" },
  "data-dir": { type: "string" },
  bootstrap: { type: "boolean" },
  workers: { type: "string" },
} as const;

/** The app options of a command line, or the exit code once the problem (or help) is printed. */
export function parseStartFlags(
  command: string,
  usage: string,
  argv: string[],
): { ok: true; options: AppOptions } | { ok: false; exitCode: number } {
  const flags = parseCommandFlags(command, usage, argv, OPTIONS);
  if (!flags.ok) return flags;
  const { values } = flags;
  const fail = (message: string): { ok: false; exitCode: number } => {
    console.error(`shardgate ${command}: ${message}\n${usage}`);
    return { ok: false, exitCode: 2 };
  };
  const nodeId = values["node-id"];
  const dataDir = values["data-dir"];
  if (nodeId === "" || dataDir === "") return fail("--node-id and --data-dir need a value");
  let drainTimeoutMs: number | undefined;
  if (values["drain-timeout"] !== undefined) {
    const d = parseCliDuration(values["drain-timeout"]);
    if (!d.ok) return fail(`--drain-timeout: expected ${d.expected}`);
    drainTimeoutMs = d.value;
  }
  const configPath = values.config;
  if (configPath === undefined || configPath === "") return fail("--config FILE is required");
  const workers = values.workers === undefined ? undefined : parseWorkersFlag(values.workers);
  if (values.workers !== undefined && workers === undefined)
    return fail('--workers: expected a whole number from 1 to 256, or "auto"');
  const bootstrap = values.bootstrap === true ? true : undefined;
  return { ok: true, options: { configPath, drainTimeoutMs, nodeId, dataDir, bootstrap, workers } };
}
