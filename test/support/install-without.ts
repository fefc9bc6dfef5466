// An install of shardgate that lacks one client package (a broken install, a pruned image): a
// directory whose dist and package.json link ours and whose node_modules links every package
// but `pkg` (for a scoped one, the scope's other packages). Run with --preserve-symlinks (and
// --preserve-symlinks-main) so Node resolves from that directory, not from the links' targets.

import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scaled } from "./wait.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/** The install under `dir` without `pkg`, made once per directory and package. */
export function installWithout(dir: string, pkg: string): string {
  const app = join(dir, pkg.replace(/[@/]/g, "_"));
  if (existsSync(app)) return app;
  mkdirSync(join(app, "node_modules"), { recursive: true });
  symlinkSync(join(root, "dist"), join(app, "dist"));
  symlinkSync(join(root, "package.json"), join(app, "package.json"));
  const [scope, scoped] = pkg.startsWith("@") ? pkg.split("/") : [undefined, undefined];
  for (const name of readdirSync(join(root, "node_modules"))) {
    if (name === pkg) continue;
    if (name !== scope) {
      symlinkSync(join(root, "node_modules", name), join(app, "node_modules", name));
      continue;
    }
    mkdirSync(join(app, "node_modules", name));
    for (const inner of readdirSync(join(root, "node_modules", name)))
      if (inner !== scoped)
        symlinkSync(join(root, "node_modules", name, inner), join(app, "node_modules", name, inner));
  }
  return app;
}

/** `shardgate <args>` run from the install `app`, in `cwd`. */
export function cliFrom(app: string, args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(
    process.execPath,
    ["--preserve-symlinks", "--preserve-symlinks-main", join(app, "dist/proxy/cli.js"), ...args],
    { cwd, encoding: "utf8", timeout: scaled(30_000) },
  );
}
