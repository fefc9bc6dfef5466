// What a reload may read. A reload reads the config file on the thread pool; a FIFO (or a
// device) with no writer blocks that read, and an exit joins the thread pool: a SIGTERM
// during such a reload drained the instance and then hung it for ever (found from the
// outside: the config path replaced by a FIFO, then SIGHUP, then SIGTERM). `start` may still
// read a FIFO (it is read once, before anything serves); a reload reads regular files only.
// stat(2) never blocks on a FIFO.

import { stat } from "node:fs/promises";
import type { ConfigError } from "../../config/file/config-error.js";

/** A config error when `path` is not a regular file (absent is left to the loader's own error). */
export async function notRegularFile(path: string): Promise<ConfigError | undefined> {
  let kind: string;
  try {
    const st = await stat(path);
    if (st.isFile()) return undefined;
    kind = st.isFIFO() ? "a FIFO" : st.isDirectory() ? "a directory" : "not a regular file";
  } catch {
    return undefined;
  }
  return {
    path: "",
    expected: "a regular file",
    found: kind,
    message: `the config path is ${kind}: a reload reads regular files only (a read from it could block the process's exit); restart to read it`,
  };
}
