// `shardgate start --config FILE [--drain-timeout DURATION] [--node-id ID] [--data-dir DIR]`:
// run the proxy until SIGTERM/SIGINT. --node-id / --data-dir override cluster.id /
// cluster.dataDir (as do SHARDGATE_NODE_ID / SHARDGATE_DATA_DIR; the flags win).
// An invalid config prints every error and exits 1 without starting anything; a port that
// cannot be bound exits 1 with the reason. SIGHUP reloads the config file.

import { parseArgs } from "node:util";
import { parseDuration } from "../../config/units.js";
import { runUntilSignalled } from "../app/process-lifecycle.js";
import { startApp } from "../app.js";

const USAGE = "usage: shardgate start --config FILE [--drain-timeout 10s] [--node-id ID] [--data-dir DIR]";

export async function run(argv: string[]): Promise<number> {
  let configPath: string | undefined;
  let drainTimeoutMs: number | undefined;
  let nodeId: string | undefined;
  let dataDir: string | undefined;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string", short: "c" },
        "drain-timeout": { type: "string" },
        "node-id": { type: "string" },
        "data-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    configPath = values.config;
    nodeId = values["node-id"];
    dataDir = values["data-dir"];
    if (nodeId === "" || dataDir === "") {
      console.error(`shardgate start: --node-id and --data-dir need a value\n${USAGE}`);
      return 2;
    }
    if (values["drain-timeout"] !== undefined) {
      const d = parseDuration(values["drain-timeout"]);
      if (!d.ok) {
        console.error(`shardgate start: --drain-timeout: expected ${d.expected}\n${USAGE}`);
        return 2;
      }
      drainTimeoutMs = d.value;
    }
  } catch (err) {
    console.error(`shardgate start: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  if (configPath === undefined || configPath === "") {
    console.error(`shardgate start: --config FILE is required\n${USAGE}`);
    return 2;
  }
  const started = await startApp({ configPath, drainTimeoutMs, nodeId, dataDir });
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
