// Reading a file shardgate was pointed at (the config file, listener certificates, upstream CA
// bundles, ctl's keys file) when it may not be what it seems. readFile trusts the path: a
// character device (/dev/zero, /dev/urandom) is read until Node's 2 GiB limit (650 MB to
// 1.2 GB of memory and 4-22 s for `validate`, ending in an error that said just "error"), a
// large file is read whole before its size is refused, and readFileSync on a FIFO nobody writes
// blocks the event loop for good (the whole proxy stops serving). Here: open without blocking
// (O_NONBLOCK: a FIFO's open returns at once), fstat the open file (what is read is what was
// checked, even if the path is swapped meanwhile), refuse anything but a regular file and
// anything over the caller's bound, then read at most that bound (a file growing while read is
// refused too). The errors name the file and say what it is; their `code` is Node's errno code,
// or ENOTREG / EFBIG for the two refusals here.

import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { open } from "node:fs/promises";

/** The most a certificate, key or CA bundle file may hold (Mozilla's whole CA bundle is 0.2 MiB). */
export const MAX_PEM_BYTES = 4 * 1024 * 1024;

const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0);
const CHUNK = 64 * 1024;

/** What a non-regular file is, in words ("a FIFO", "a directory", ...). */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

function mib(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;
}

function refusal(path: string, code: "ENOTREG" | "EFBIG", message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${path}: ${message}`), { code, path });
}

/** The refusal for `st` under `maxBytes`, or null when it is a regular file within it. */
export function checkStats(path: string, st: Stats, maxBytes: number): NodeJS.ErrnoException | null {
  if (!st.isFile()) return refusal(path, "ENOTREG", `not a regular file (${fileKind(st)})`);
  if (st.size > maxBytes) return refusal(path, "EFBIG", `larger than ${mib(maxBytes)} (${mib(st.size)})`);
  return null;
}

function tooLarge(path: string, maxBytes: number): NodeJS.ErrnoException {
  return refusal(path, "EFBIG", `larger than ${mib(maxBytes)} (it grew while being read)`);
}

/** Node's open error, with the path in front when Node's message lacks it. */
function named(path: string, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.message === "string" && !e.message.includes(path)) e.message = `${path}: ${e.message}`;
  return e;
}

/** The bytes of the regular file at `path`, at most `maxBytes`; throws (err.code) otherwise. */
export function readFileBoundedSync(path: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, FLAGS);
  } catch (err) {
    throw named(path, err);
  }
  try {
    const bad = checkStats(path, fstatSync(fd), maxBytes);
    if (bad !== null) throw bad;
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw tooLarge(path, maxBytes);
      chunks.push(n === CHUNK ? chunk : chunk.subarray(0, n));
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/**
 * What an open descriptor (standard input) gives until its end, at most `maxBytes`; `label`
 * names it in the refusal. A pipe has no size to check first: `head -c 300M /dev/zero | ctl
 * route P --keys-file -` was read whole (1.6 GB of memory) and then died with a stack trace.
 */
export function readDescriptorBoundedSync(fd: number, label: string, maxBytes: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(CHUNK);
    const n = readWaitingSync(fd, chunk);
    if (n === 0) break;
    total += n;
    if (total > maxBytes) throw refusal(label, "EFBIG", `more than ${mib(maxBytes)}`);
    chunks.push(n === CHUNK ? chunk : chunk.subarray(0, n));
  }
  return Buffer.concat(chunks, total);
}

/** How long a read of a non-blocking descriptor with nothing in it yet waits before trying again (ms). */
const EMPTY_RETRY_MS = 10;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * readSync that waits on a descriptor someone made non-blocking (O_NONBLOCK is shared with every
 * process holding it: a terminal a program left so, a producer's pipe): its first read before
 * any input failed with EAGAIN, and `ctl route --keys-file -` refused keys still on their way.
 */
function readWaitingSync(fd: number, into: Buffer): number {
  for (;;) {
    try {
      return readSync(fd, into, 0, into.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      Atomics.wait(sleeper, 0, 0, EMPTY_RETRY_MS);
    }
  }
}

/** readFileBoundedSync without holding the event loop (the reads go to the thread pool). */
export async function readFileBounded(path: string, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  await forEachChunkBounded(path, maxBytes, (chunk) => {
    chunks.push(chunk);
    total += chunk.length;
  });
  return Buffer.concat(chunks, total);
}

/**
 * readFileBounded handing each chunk (up to 64 KiB, a fresh buffer) to `onChunk` as it is read,
 * for a large file parsed as it streams; resolves with the stats of what was read.
 */
export async function forEachChunkBounded(
  path: string,
  maxBytes: number,
  onChunk: (chunk: Buffer) => void,
): Promise<Stats> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, FLAGS);
  } catch (err) {
    throw named(path, err);
  }
  try {
    const st = await handle.stat();
    const bad = checkStats(path, st, maxBytes);
    if (bad !== null) throw bad;
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await handle.read(chunk, 0, CHUNK, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(path, maxBytes);
      onChunk(bytesRead === CHUNK ? chunk : chunk.subarray(0, bytesRead));
    }
    return st;
  } finally {
    await handle.close();
  }
}
