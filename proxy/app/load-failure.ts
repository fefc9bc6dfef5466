// Why a module could not be loaded, said plainly when the cause is a shortage of descriptors:
// the CLI's load of a command and start's load of the running instance's modules (proxy/app.ts,
// once its checks passed) fail the same way under a low limit and say so in the same words.

import { readFileSync } from "node:fs";

/**
 * The message for a failed module load that a descriptor shortage explains (with the loader's
 * own first line), or null when it is not one.
 */
export async function descriptorShortage(err: unknown): Promise<string | null> {
  const limit = await descriptorLimit();
  const code = (err as NodeJS.ErrnoException).code;
  const short = code === "EMFILE" || code === "ENFILE" || (limit !== null && limit <= LOADING_DESCRIPTORS);
  if (!short) return null;
  // The loader's own words too (one line): under a low limit a load can also fail for another
  // reason (a broken install), and this message alone would hide it.
  const loader = String((err as Error)?.message ?? err).split("\n", 1)[0];
  return `${descriptorsForLoading(code, limit)} (the loader said: ${loader})`;
}

/**
 * A descriptor limit under which a failed load is taken for a shortage: `start` loads at 128, and
 * an open refused for want of a descriptor is not always EMFILE (the resolver reports a package
 * it could not read as ERR_MODULE_NOT_FOUND: "Cannot find package .../pino/index.js").
 */
const LOADING_DESCRIPTORS = 256;

/**
 * Node's module loader opens a command's files many at a time, so under a low descriptor limit
 * (`ulimit -n 100`) `start` and even `validate` died in the loader with its stack trace and a
 * file name of ours (or a dependency said missing), as if the install were broken.
 */
function descriptorsForLoading(code: string | undefined, limit: number | null): string {
  const here = limit === null ? "" : ` (${limit} here)`;
  // ENFILE: the whole system's open-file table is full, not this process's limit.
  if (code === "ENFILE")
    return "cannot load its own modules (ENFILE): the system's open-file table is full (fs.file-max); close files elsewhere or raise it, then start again";
  return (
    `cannot load its own modules (${code ?? "error"}): the descriptor limit${here} is too low for ` +
    "shardgate to run: raise it (ulimit -n, LimitNOFILE= in systemd, the container's nofile); " +
    "a running instance needs one per client and upstream connection on top"
  );
}

/**
 * The soft descriptor limit from /proc, or null. The loader's other opens hold every descriptor
 * for a moment after the failure (about 200 ms at a limit of 64), so it is read again for up to 1 s.
 */
async function descriptorLimit(): Promise<number | null> {
  for (let i = 0; i < 20; i++) {
    try {
      const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "latin1"));
      return m === null ? null : Number(m[1]);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EMFILE") return null;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return null;
}
