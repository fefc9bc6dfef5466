// `shardgate validate --config FILE [start's flags]`: check a config file without starting
// anything, with every check `start` makes before it starts (checkApp runs startApp's own
// checks: the file, TLS files, pools that can be built, the node id and cluster settings with
// the same flags and SHARDGATE_* variables). A start command line with `start` replaced by
// `validate` checks exactly that start. Exit 0 = valid, 1 = invalid, 2 = usage error.

import { configHints } from "../../config/file/config-hints.js";
import { MAX_LINE, printableLine, printableLines } from "../../config/printable.js";
import { checkApp } from "../app.js";
import { parseStartFlags, START_FLAGS_USAGE } from "./start-flags.js";

const USAGE = `usage: shardgate validate ${START_FLAGS_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const flags = parseStartFlags("validate", USAGE, argv);
  if (!flags.ok) return flags.exitCode;
  const file = flags.options.configPath;
  const result = await checkApp(flags.options);
  if (!result.ok) {
    if (result.kind === "config") {
      const n = result.errors.length;
      console.error(`${result.text}\n${printableLine(file)}: ${n} error${n === 1 ? "" : "s"}`);
    } else {
      console.error(`shardgate validate: ${printableLines(result.message, MAX_LINE)}`);
    }
    return 1;
  }
  // A hint quotes the file (a route's path prefix) and goes to a terminal, as errors do.
  for (const hint of configHints(result.config))
    console.error(printableLine(`${file}: warning: ${hint.text}`));
  const pools = Object.keys(result.config.pools).length;
  const routes = result.config.routes.length;
  console.log(`ok: ${pools} pools, ${routes} routes`);
  return 0;
}
