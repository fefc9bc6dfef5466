// `shardgate start --config FILE [--drain-timeout DURATION] [--node-id ID] [--data-dir DIR] [--bootstrap]`:
// run the proxy until SIGTERM/SIGINT. --node-id / --data-dir override cluster.id /
// cluster.dataDir (as do SHARDGATE_NODE_ID / SHARDGATE_DATA_DIR; the flags win). --bootstrap
// (cluster.bootstrap: new, SHARDGATE_BOOTSTRAP=new) lets an empty data directory found a new
// cluster; without it an empty data directory only ever joins an existing one.
// --workers N|auto (config `workers`) runs N data-plane processes on the one listener.
// An invalid config prints every error and exits 1 without starting anything; a port that
// cannot be bound exits 1 with the reason. SIGHUP reloads the config file.

import { MAX_LINE, printableLine, printableLines } from "../../config/printable.js";
import { holdSignals, releaseSignals, setStartStopDeadline } from "../app/early-signals.js";
import { runUntilSignalled } from "../app/process-lifecycle.js";
import { STOP_CLOSE_MS } from "../app/stop-deadline.js";
import { DEFAULT_DRAIN_TIMEOUT_MS, startApp } from "../app.js";
import { parseStartFlags, START_FLAGS_USAGE } from "./start-flags.js";

const USAGE = `usage: shardgate start ${START_FLAGS_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const flags = parseStartFlags("start", USAGE, argv);
  if (!flags.ok) return flags.exitCode;
  const { configPath } = flags.options;
  holdSignals(); // (the CLI already did; a caller that runs this module directly may not)
  setStartStopDeadline((flags.options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS) + STOP_CLOSE_MS);
  const started = await startApp(flags.options);
  if (!started.ok) {
    releaseSignals();
    if (started.kind === "config") {
      const n = started.errors.length;
      console.error(
        `${started.text}\n${printableLine(configPath)}: ${n} error${n === 1 ? "" : "s"}; shardgate did not start`,
      );
    } else {
      console.error(`shardgate start: ${printableLines(started.message, MAX_LINE)}`);
    }
    return 1;
  }
  // The app's handlers go in before the held ones come out: no instant without a listener.
  const running = runUntilSignalled(started.app);
  const during = releaseSignals();
  // A stop signal held during start: the drain begins at once (nothing is in flight yet).
  if (during.stop !== null) running.stop(during.stop);
  else if (during.hup)
    void started.app
      .reload("SIGHUP during start")
      .catch((err: unknown) => started.app.logger.error({ err }, "reload failed"));
  return running.exited;
}
