// Reading a FIFO (a named pipe, or the /dev/fd/N of a shell's `<(cmd)`) without parking a
// thread on it: opened non-blocking and read as a pipe on the event loop, so the wait for its
// writer holds no thread and ends with the process. Bounded in bytes; optionally bounded in
// time too: with `idleMs`, a pipe that gives nothing (no writer came, or the writer went quiet)
// for that long is refused (ETIMEDOUT) instead of waiting for ever. Linux reports no hang-up
// on a FIFO before a writer has come, so without such a bound a FIFO nobody writes is a wait
// without end.

import { closeSync, constants, openSync } from "node:fs";
import { Socket } from "node:net";

export interface PipeReadOptions {
  /** Refuse (EFBIG) past this many bytes. */
  readonly maxBytes: number;
  /** Refuse (ETIMEDOUT) when nothing arrives for this long; absent: wait for the writer. */
  readonly idleMs?: number;
}

function coded(message: string, code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${path}: ${message}`), { code, path });
}

/** The bytes a FIFO at `path` gives until its writer closes it. */
export function readPipe(path: string, opts: PipeReadOptions): Promise<Buffer> {
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
    let timer: NodeJS.Timeout | undefined;
    const fail = (err: Error): void => {
      clearTimeout(timer);
      pipe.destroy();
      reject(err);
    };
    const arm = (): void => {
      if (opts.idleMs === undefined) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        const what = total === 0 ? "nothing arrived" : `nothing more arrived after ${total} bytes`;
        fail(
          coded(
            `${what} for ${opts.idleMs} ms (a FIFO nobody writes, or a writer that never closes it)`,
            "ETIMEDOUT",
            path,
          ),
        );
      }, opts.idleMs);
    };
    arm();
    pipe.on("data", (chunk: Buffer) => {
      total += chunk.length;
      if (total > opts.maxBytes) {
        const mib = opts.maxBytes / (1024 * 1024);
        fail(coded(`larger than ${mib} MiB (a FIFO still being written)`, "EFBIG", path));
        return;
      }
      chunks.push(chunk);
      arm();
    });
    pipe.once("end", () => {
      clearTimeout(timer);
      pipe.destroy();
      resolve(Buffer.concat(chunks, total));
    });
    pipe.once("error", fail);
  });
}
