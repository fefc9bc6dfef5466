// `node --import` this file (loadedModulesEnv) to have a child process list the modules it loads
// (loaded-modules-hooks.ts): how a test sees that a process did not load a package its config
// does not use.

import { readFileSync } from "node:fs";
import { register } from "node:module";
import { join } from "node:path";

const FROM_SOURCE = import.meta.url.endsWith(".ts");
const EXT = FROM_SOURCE ? ".ts" : ".js";

if (process.env.SHARDGATE_LOADED_MODULES !== undefined)
  register(new URL(`./loaded-modules-hooks${EXT}`, import.meta.url));

/** The environment that has a child write the URLs it loads to `dir`/loaded-modules.txt. */
export function loadedModulesEnv(dir: string): { env: Record<string, string>; file: string } {
  const file = join(dir, "loaded-modules.txt");
  const self = new URL(`./loaded-modules${EXT}`, import.meta.url).href;
  const options = [process.env.NODE_OPTIONS ?? "", `--import=${self}`].join(" ").trim();
  return { env: { NODE_OPTIONS: options, SHARDGATE_LOADED_MODULES: file }, file };
}

/** The packages (`name` or `@scope/name`) of the node_modules URLs in `file`, sorted. */
export function loadedPackages(file: string): string[] {
  const names = new Set<string>();
  for (const url of readFileSync(file, "utf8").split("\n")) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m !== null) names.add(m[1]);
  }
  return [...names].sort();
}
