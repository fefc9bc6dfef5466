// How the demo's banner spells a shardgate command so that it can be pasted as printed: a
// fresh clone run with `npm start` has no `shardgate` on PATH (README: `npm link` puts it
// there), so the banner then says `node dist/proxy/cli.js` (relative to where the demo was
// started), and `shardgate` only when that name on PATH is this very CLI.

import { accessSync, constants, realpathSync } from "node:fs";
import { delimiter, isAbsolute, join, relative } from "node:path";

/** "shardgate" when PATH resolves it to `cli`, else "node <cli as a path from cwd>". */
export function cliCommand(cli: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  const target = realOrNull(cli);
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, "shardgate");
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    // The first shardgate on PATH is the one a shell runs: it must be this CLI.
    return target !== null && realOrNull(candidate) === target ? "shardgate" : nodeCommand(cli, cwd);
  }
  return nodeCommand(cli, cwd);
}

function nodeCommand(cli: string, cwd: string): string {
  const rel = relative(cwd, cli);
  const path = rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : cli;
  return `node ${/[^\w./-]/.test(path) ? `'${path.replaceAll("'", "'\\''")}'` : path}`;
}

function realOrNull(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}
