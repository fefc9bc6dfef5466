// A raw upload that reads as it goes: one POST with a Content-Length body written in 16 KiB
// slices (as a client streams a file), on a connection whose answer or close ends the session.
// The early-answer tests use it to see what shardgate relays when its member answers (and
// resets) before it has read the body. For a client that reads only after uploading, see
// late-reader.ts.

import { rawSession } from "./raw-socket.js";

/** POSTs `size` bytes to `path` on 127.0.0.1:`port` (header x-user-id: k); resolves with rawSession's result. */
export function streamedUpload(port: number, path: string, size: number, ms = 30_000) {
  return rawSession(port, ms, (s) => {
    s.write(
      `POST ${path} HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nConnection: close\r\n` +
        `content-type: application/octet-stream\r\ncontent-length: ${size}\r\n\r\n`,
    );
    const slice = Buffer.alloc(16 * 1024, 0x61);
    let left = size;
    const pump = (): void => {
      while (left > 0 && !s.destroyed) {
        const n = Math.min(left, slice.length);
        left -= n;
        if (!s.write(n === slice.length ? slice : slice.subarray(0, n))) {
          s.once("drain", pump);
          return;
        }
      }
    };
    pump();
  });
}
