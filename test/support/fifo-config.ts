// A config file that is a FIFO: `shardgate start` blocks reading it for as long as a test
// needs, so a signal is guaranteed to land while start is under way.

import { closeSync, constants, openSync, writeSync } from "node:fs";
import { eventually } from "./wait.js";

/** Opens the FIFO for writing once a reader has it open (non-blocking polls; bounded). */
export function fifoWriter(fifo: string, what: string, timeoutMs = 45_000): Promise<number> {
  return eventually(
    what,
    async () => {
      try {
        return openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch {
        return undefined; // ENXIO: nobody reads it yet
      }
    },
    timeoutMs,
  );
}

/** Writes `text` to an open FIFO writer and closes it: the reader sees the whole file. */
export function feedAndClose(fd: number, text: string): void {
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
