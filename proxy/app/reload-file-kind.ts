// A reload blocked on its config file must not hold the process's exit. A reload reads the
// file on the thread pool; when the path is a FIFO with no writer (config management that
// pipes the file, or a path replaced by one), the open(2) blocks until a writer comes, and
// the exit joins the thread pool: a SIGTERM during such a reload drained the instance and
// then hung it for ever (found from the outside). At shutdown the pending reader is released
// by opening the FIFO for writing (non-blocking) and closing it at once: the reader sees an
// empty file, that reload is refused as invalid, and the thread is free.

import { closeSync, constants, openSync, statSync } from "node:fs";

/** Releases a reader blocked opening the FIFO at `path`; a no-op for anything else. */
export function releaseFifoReader(path: string): void {
  try {
    if (!statSync(path).isFIFO()) return;
    // ENXIO when no reader is waiting: nothing to release.
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // gone, or no reader: nothing to do
  }
}
