// `shardgate start --config FILE [--drain-timeout DURATION] [--node-id ID] [--data-dir DIR] [--bootstrap]`:
// run the proxy until SIGTERM/SIGINT. --node-id / --data-dir override cluster.id /
// cluster.dataDir (as do SHARDGATE_NODE_ID / SHARDGATE_DATA_DIR; the flags win). --bootstrap
// (cluster.bootstrap: new, SHARDGATE_BOOTSTRAP=new) lets an empty data directory found a new
// cluster; without it an empty data directory only ever joins an existing one.
// --workers N|auto (config `workers`) runs N data-plane processes on the one listener.
// An invalid config prints every error and exits 1 without starting anything; a port that
// cannot be bound exits 1 with the reason. SIGHUP reloads the config file.

import { parseDuration } from "../../config/file/units.js";
import { parseCommandFlags } from "../app/command-flags.js";
import { runUntilSignalled } from "../app/process-lifecycle.js";
import { startApp } from "../app.js";
import { parseWorkersFlag, type WorkersSetting } from "../workers/worker-count.js";

const USAGE =
  "usage: shardgate start --config FILE [--drain-timeout 10s] [--node-id ID] [--data-dir DIR] [--bootstrap] [--workers N|auto]";

export async function run(argv: string[]): Promise<number> {
  const flags = parseCommandFlags("start", USAGE, argv, {
    config: { type: "string", short: "c" },
    "drain-timeout": { type: "string" },
    "node-id": { type: "string" },
    "data-dir": { type: "string" },
    bootstrap: { type: "boolean" },
    workers: { type: "string" },
  });
  if (!flags.ok) return flags.exitCode;
  const { values } = flags;
  const configPath = values.config;
  const nodeId = values["node-id"];
  const dataDir = values["data-dir"];
  if (nodeId === "" || dataDir === "") {
    console.error(`shardgate start: --node-id and --data-dir need a value\n${USAGE}`);
    return 2;
  }
  let drainTimeoutMs: number | undefined;
  if (values["drain-timeout"] !== undefined) {
    const d = parseDuration(values["drain-timeout"]);
    if (!d.ok) {
      console.error(`shardgate start: --drain-timeout: expected ${d.expected}\n${USAGE}`);
      return 2;
    }
    drainTimeoutMs = d.value;
  }
  if (configPath === undefined || configPath === "") {
    console.error(`shardgate start: --config FILE is required\n${USAGE}`);
    return 2;
  }
  let workers: WorkersSetting | undefined;
  if (values.workers !== undefined) {
    workers = parseWorkersFlag(values.workers);
    if (workers === undefined) {
      console.error(`shardgate start: --workers: expected a whole number from 1 to 256, or "auto"\n${USAGE}`);
      return 2;
    }
  }
  const bootstrap = values.bootstrap === true ? true : undefined;
  const started = await startApp({ configPath, drainTimeoutMs, nodeId, dataDir, bootstrap, workers });
  if (!started.ok) {
    if (started.kind === "config") {
      const n = started.errors.length;
      console.error(
        `${started.text}\n${configPath}: ${n} error${n === 1 ? "" : "s"}; shardgate did not start`,
      );
    } else {
      console.error(`shardgate start: ${started.message}`);
    }
    return 1;
  }
  return runUntilSignalled(started.app);
}
