// `shardgate validate --config FILE`: load the config file exactly as `start` would and
// report every problem at once. Exit 0 = valid, 1 = invalid, 2 = usage error.

import { parseArgs } from "node:util";
import { errorText } from "../../config/coded-error.js";
import { formatConfigErrors } from "../../config/file/config-error.js";
import { grpcRouteHints } from "../../config/file/grpc-route-hints.js";
import { loadConfigFile } from "../../config/file/load.js";

const USAGE = "usage: shardgate validate --config FILE";

export async function run(argv: string[]): Promise<number> {
  let file: string | undefined;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    file = values.config;
  } catch (err) {
    console.error(`shardgate validate: ${errorText(err)}\n${USAGE}`);
    return 2;
  }
  if (file === undefined || file === "") {
    console.error(`shardgate validate: --config FILE is required\n${USAGE}`);
    return 2;
  }
  const result = await loadConfigFile(file);
  if (!result.ok) {
    const n = result.errors.length;
    console.error(`${formatConfigErrors(result.errors, file)}\n${file}: ${n} error${n === 1 ? "" : "s"}`);
    return 1;
  }
  for (const hint of grpcRouteHints(result.config)) console.error(`${file}: warning: ${hint}`);
  const pools = Object.keys(result.config.pools).length;
  const routes = result.config.routes.length;
  console.log(`ok: ${pools} pools, ${routes} routes`);
  return 0;
}
