// The log destination for stdout on a pipe or a socket (a container runtime's log pipe, a
// log shipper, journald): a libuv stream, written without blocking and resumed by epoll as
// soon as the reader makes room. A thread-pool write(2) to a full pipe would park a thread
// that process.exit joins (the exit hung), and sonic-boom's answer to EAGAIN on a
// non-blocking descriptor is a fixed 100 ms pause, about 640 KB/s once the pipe is full:
// below what a busy proxy's access log produces. What the reader has not taken is held up
// to `maxBuffered` bytes; past that, lines are dropped (and the caller told).

import { constants, fstatSync, openSync } from "node:fs";
import { Socket } from "node:net";

export interface StreamDestination {
  write(b: Buffer): void;
  /** Resolves once everything queued is written, the stream failed, or `ms` passed. */
  flushWithin(ms: number): Promise<void>;
}

/** Whether `fd` is a pipe or a socket (else sonic-boom's file writes suit it). */
export function isPipeOrSocket(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

export function openStreamDestination(
  fd: number,
  maxBuffered: number,
  onTrouble: (why: string) => void,
): StreamDestination {
  const sock = streamFor(fd);
  sock.on("error", (err: NodeJS.ErrnoException) => onTrouble(err.code ?? err.message));
  return {
    write(b) {
      if (sock.destroyed) return; // the reader is gone (EPIPE): dropped, reported once
      if (sock.writableLength > maxBuffered) {
        onTrouble("the destination does not keep up");
        return;
      }
      sock.write(b);
    },
    flushWithin(ms) {
      if (sock.writableLength === 0 || sock.destroyed) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          sock.off("drain", done);
          sock.off("close", done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        sock.once("drain", done);
        sock.once("close", done);
      });
    },
  };
}

/**
 * A FIFO gets a file description of its own (via /proc), so that making it non-blocking
 * (libuv does) leaves the process on the other side alone; a socket has no such twin, and
 * stdout/stderr are then Node's own streams (which switch it the same way when first used).
 */
function streamFor(fd: number): Socket {
  try {
    if (fstatSync(fd).isFIFO()) {
      const own = openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
      const s = new Socket({ fd: own, readable: false, writable: true });
      s.unref(); // an idle log holds no process open (queued writes still do)
      return s;
    }
  } catch {
    // no /proc: the inherited descriptor below
  }
  if (fd === 1) return process.stdout as unknown as Socket;
  if (fd === 2) return process.stderr as unknown as Socket;
  const s = new Socket({ fd, readable: false, writable: true });
  s.unref();
  return s;
}
