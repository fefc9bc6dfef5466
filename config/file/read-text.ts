// Reading the config file without ever parking a thread-pool thread on it. A FIFO (config
// management piping the file, or a path replaced by one) read with readFile blocks a libuv
// thread in open(2) or read(2) until its writer writes and closes; and a process exit joins
// the thread pool, so one writer that opened the FIFO and never wrote held SIGTERM's exit for
// ever (found from the outside). A FIFO is read instead as a non-blocking pipe on the event
// loop: it still waits for its writer (Linux reports no hang-up before a writer has come), but
// the wait holds no thread and ends with the process, and it is read up to MAX_CONFIG_BYTES
// (pipe-read.ts).
// Anything else must be a regular file within that bound (bounded-read.ts): /dev/zero was read
// until Node's 2 GiB limit, a 100 MB file whole before its size was refused.

import { stat } from "node:fs/promises";
import { readFileBounded } from "./bounded-read.js";
import { readPipe } from "./pipe-read.js";
import { MAX_CONFIG_BYTES } from "./text-limits.js";

/** The text of the config file at `path`; rejects (err.code, a message naming the file) when unreadable. */
export async function readConfigText(path: string): Promise<string> {
  let fifo = false;
  try {
    fifo = (await stat(path)).isFIFO();
  } catch {
    // the open below says why (ENOENT, EACCES, ELOOP, ...)
  }
  // A FIFO waits for its writer without a deadline: start and a reload are held until it comes
  // (a stop signal releases a reload's read: proxy/app/reload-file-kind.ts).
  const bytes = fifo
    ? await readPipe(path, { maxBytes: MAX_CONFIG_BYTES })
    : await readFileBounded(path, MAX_CONFIG_BYTES);
  return bytes.toString("utf8");
}
