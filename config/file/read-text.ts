// Reading the config file without ever parking a thread-pool thread on it. A FIFO (config
// management piping the file, or a path replaced by one) read with readFile blocks a libuv
// thread in open(2) or read(2) until its writer writes and closes; and a process exit joins
// the thread pool, so one writer that opened the FIFO and never wrote held SIGTERM's exit for
// ever (found from the outside). A FIFO is read instead as a non-blocking pipe on the event
// loop: it still waits for its writer (Linux reports no hang-up before a writer has come), but
// the wait holds no thread and ends with the process, and it is read up to MAX_CONFIG_BYTES.
// Anything else must be a regular file within that bound (bounded-read.ts): /dev/zero was read
// until Node's 2 GiB limit, a 100 MB file whole before its size was refused.

import { closeSync, constants, openSync } from "node:fs";
import { stat } from "node:fs/promises";
import { Socket } from "node:net";
import { readFileBounded } from "./bounded-read.js";
import { MAX_CONFIG_BYTES } from "./text-limits.js";

/** The text of the config file at `path`; rejects (err.code, a message naming the file) when unreadable. */
export async function readConfigText(path: string): Promise<string> {
  let fifo = false;
  try {
    fifo = (await stat(path)).isFIFO();
  } catch {
    // the open below says why (ENOENT, EACCES, ELOOP, ...)
  }
  return fifo ? readFifo(path) : (await readFileBounded(path, MAX_CONFIG_BYTES)).toString("utf8");
}

function readFifo(path: string): Promise<string> {
  // O_NONBLOCK: open(2) of a FIFO for reading returns at once, writer or not.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  return new Promise((resolve, reject) => {
    let pipe: Socket;
    try {
      pipe = new Socket({ fd, readable: true, writable: false });
    } catch (err) {
      closeSync(fd);
      reject(err);
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    pipe.on("data", (chunk: Buffer) => {
      total += chunk.length;
      if (total <= MAX_CONFIG_BYTES) {
        chunks.push(chunk);
        return;
      }
      pipe.destroy();
      const err = new Error(
        `${path}: larger than ${MAX_CONFIG_BYTES / (1024 * 1024)} MiB (a FIFO still being written)`,
      );
      reject(Object.assign(err, { code: "EFBIG" }));
    });
    pipe.once("end", () => {
      pipe.destroy();
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    pipe.once("error", (err) => {
      pipe.destroy();
      reject(err);
    });
  });
}
