// `node --import` this file (loadedModulesEnv) to have a child process list the modules it loads
// (loaded-modules-hooks.ts: the ESM loader's; and, at exit, require's cache: a package loaded
// by require, as the consul client is, never passes the ESM loader): how a test sees that a
// process did not load a package its config does not use.

import { appendFileSync, readFileSync } from "node:fs";
import { createRequire, register } from "node:module";
import { join } from "node:path";

const FROM_SOURCE = import.meta.url.endsWith(".ts");
const EXT = FROM_SOURCE ? ".ts" : ".js";

const out = process.env.SHARDGATE_LOADED_MODULES;
if (out !== undefined && out !== "") {
  register(new URL(`./loaded-modules-hooks${EXT}`, import.meta.url));
  const cache = createRequire(import.meta.url).cache;
  process.once("exit", () => appendFileSync(out, `${Object.keys(cache).join("\n")}\n`));
}

/** The environment that has a child write the URLs it loads to `dir`/loaded-modules.txt. */
export function loadedModulesEnv(dir: string): { env: Record<string, string>; file: string } {
  const file = join(dir, "loaded-modules.txt");
  const self = new URL(`./loaded-modules${EXT}`, import.meta.url).href;
  const options = [process.env.NODE_OPTIONS ?? "", `--import=${self}`].join(" ").trim();
  return { env: { NODE_OPTIONS: options, SHARDGATE_LOADED_MODULES: file }, file };
}

/** The packages (`name` or `@scope/name`) of the node_modules URLs and paths in `file`, sorted. */
export function loadedPackages(file: string): string[] {
  const names = new Set<string>();
  for (const url of readFileSync(file, "utf8").split("\n")) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m !== null) names.add(m[1]);
  }
  return [...names].sort();
}
