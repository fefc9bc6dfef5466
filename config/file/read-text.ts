// Reading the config file without ever parking a thread-pool thread on it. A FIFO (config
// management piping the file, or a path replaced by one) read with readFile blocks a libuv
// thread in open(2) or read(2) until its writer writes and closes; and a process exit joins
// the thread pool, so one writer that opened the FIFO and never wrote held SIGTERM's exit for
// ever (found from the outside). A FIFO is read instead as a non-blocking pipe on the event
// loop: it still waits for its writer (Linux reports no hang-up before a writer has come), but
// the wait holds no thread and ends with the process. Anything else goes through readFile.

import { closeSync, constants, openSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { Socket } from "node:net";

/** The text of the config file at `path`; rejects as readFile does (err.code) when unreadable. */
export async function readConfigText(path: string): Promise<string> {
  let fifo = false;
  try {
    fifo = (await stat(path)).isFIFO();
  } catch {
    // readFile below says why (ENOENT, EACCES, ...)
  }
  return fifo ? readFifo(path) : readFile(path, "utf8");
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
    pipe.on("data", (chunk: Buffer) => chunks.push(chunk));
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
