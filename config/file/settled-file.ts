// Reading files that someone may still be writing. A config file written in place (`cat >
// shardgate.yaml`, `kubectl cp`, an editor without atomic save) and reloaded while half written
// often still parses: YAML cut at a line end is a pool with fewer members, or a missing section
// that has a default, and the reload committed it fleet-wide. A torn read is possible only when
// the file was written in place: the same device and inode as when the caller last read that
// path (or never read it) AND changed (mtime or ctime) within `settleMs`. A file whose inode
// changed since the last read was renamed (or symlink-swapped, as Kubernetes ConfigMaps and
// Secrets are) into place, whole by construction, and is read at once, as is one untouched for
// longer than `settleMs`. Otherwise it is looked at again after `settleMs`, until nothing about
// it (size, mtime, ctime, inode) changed over a whole period or `maxMs` has passed (then it is
// refused: EUNSETTLED). Timestamps in the future (a clock stepped back, a file unpacked from
// another machine) count as "just changed", so such a file costs one settle period, never a
// refusal. After the read, the caller compares a fresh mark (sameMarks) and reads again if the
// file moved under the read. The one way left to be read half written: a new inode written
// slowly at the path (`rm f; cat > f`). Envoy sidesteps the question by reloading only on a
// rename into place (an in-place edit is not seen at all); nginx reads once on reload, torn or not.

import { type Stats, statSync } from "node:fs";
import { stat } from "node:fs/promises";

/** What must not change while a file is read: its identity, size and timestamps. */
export interface FileMark {
  readonly path: string;
  /** -1 when the path could not be stat'ed (the read will say why). */
  readonly ino: number;
  readonly dev: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  /** A FIFO or other non-regular file is never waited for (a pipe is read as it streams). */
  readonly regular: boolean;
}

export interface SettleOptions {
  /** How long a file must hold still before it is read (default 100 ms). */
  readonly settleMs: number;
  /** Refuse after this long (default 2 s). */
  readonly maxMs: number;
}

export const DEFAULT_SETTLE: SettleOptions = { settleMs: 100, maxMs: 2000 };

/** What a caller learns about the wait, for its log line. */
export interface SettleReport {
  /** Files that had changed within the settle period when first looked at. */
  readonly waitedFor: string[];
  readonly waitedMs: number;
}

function toMark(path: string, st: Stats | null): FileMark {
  if (st === null) return { path, ino: -1, dev: -1, size: -1, mtimeMs: 0, ctimeMs: 0, regular: false };
  const { ino, dev, size, mtimeMs, ctimeMs } = st;
  return { path, ino, dev, size, mtimeMs, ctimeMs, regular: st.isFile() };
}

export async function markOf(path: string): Promise<FileMark> {
  return toMark(path, await stat(path).catch(() => null));
}

/** markOf on the calling thread (a stat: cheap, never blocks on a FIFO). */
export function markOfSync(path: string): FileMark {
  try {
    return toMark(path, statSync(path));
  } catch {
    return toMark(path, null);
  }
}

export function sameMark(a: FileMark, b: FileMark): boolean {
  // A FIFO's times move as it is written: what was read from it is what it streamed.
  if (!a.regular && !b.regular && a.ino === b.ino) return true;
  return (
    a.ino === b.ino &&
    a.dev === b.dev &&
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs
  );
}

/** Whether every mark in `a` equals the one for the same path in `b`. */
export function sameMarks(a: readonly FileMark[], b: readonly FileMark[]): boolean {
  return a.length === b.length && a.every((m, i) => sameMark(m, b[i]));
}

/** Each path's mark as last read whole, kept by the reader from one read to the next. */
export type LastReads = Map<string, FileMark>;

/** Records `marks` as the last read of their paths. */
export function rememberReads(last: LastReads | undefined, marks: readonly FileMark[]): void {
  for (const m of marks) last?.set(m.path, m);
}

/** Keeps the marks of `paths` only (a reload's config stopped naming a file: its mark goes). */
export function keepReads(last: LastReads, paths: readonly string[]): void {
  for (const p of last.keys()) if (!paths.includes(p)) last.delete(p);
}

/**
 * Whether reading the file of `m` now could catch a writer midway: a regular file on the same
 * device and inode as its last read (`last`; or never read) changed within `settleMs` of
 * `now` (or claiming a time after it). A new inode was put in place by a rename: whole.
 */
export function mayBeTorn(m: FileMark, last: FileMark | undefined, settleMs: number, now: number): boolean {
  if (!m.regular) return false;
  const replaced = last !== undefined && last.ino >= 0 && (last.ino !== m.ino || last.dev !== m.dev);
  return !replaced && now - Math.max(m.mtimeMs, m.ctimeMs) < settleMs;
}

/** The files of `marks` a read could catch half written (mayBeTorn against `last`). */
export function recentlyChanged(
  marks: readonly FileMark[],
  settleMs: number,
  now: number,
  last?: ReadonlyMap<string, FileMark>,
): FileMark[] {
  return marks.filter((m) => mayBeTorn(m, last?.get(m.path), settleMs, now));
}

export class UnsettledFileError extends Error {
  readonly code = "EUNSETTLED";
  constructor(
    readonly paths: readonly string[],
    readonly waitedMs: number,
  ) {
    super(
      `${paths.join(", ")}: still being written after ${waitedMs} ms (changed at every look, ` +
        "once per settle period); not read. Write it elsewhere and rename it into place",
    );
  }
}

/** The paths waited for so far; `onWait` hears each path the first time it is waited for. */
export interface SettleWatch {
  readonly waitedFor: Set<string>;
  readonly onWait?: (paths: string[]) => void;
}

/** Unref'd: a reload waiting on a file never holds the exit. */
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/**
 * Resolves with the marks of `paths` once none has changed for `opts.settleMs` (at once when
 * none could be torn: mayBeTorn against `last`); rejects with UnsettledFileError after
 * `opts.maxMs`. `started` is when the caller's bound began, on the monotonic clock
 * (performance.now(): a wall-clock step must neither end the wait early nor hold it; only a
 * file's age is read against the wall clock, as its mtime is); a re-read keeps the first bound.
 */
export async function waitSettled(
  paths: readonly string[],
  opts: SettleOptions,
  report: SettleWatch,
  started = performance.now(),
  last?: ReadonlyMap<string, FileMark>,
): Promise<FileMark[]> {
  let marks = await Promise.all(paths.map(markOf));
  let moving = recentlyChanged(marks, opts.settleMs, Date.now(), last);
  while (moving.length > 0) {
    const fresh = moving.filter((m) => !report.waitedFor.has(m.path)).map((m) => m.path);
    for (const p of fresh) report.waitedFor.add(p);
    if (fresh.length > 0) report.onWait?.(fresh);
    const waited = Math.round(performance.now() - started);
    if (waited + opts.settleMs > opts.maxMs)
      throw new UnsettledFileError(
        moving.map((m) => m.path),
        waited,
      );
    await sleep(opts.settleMs);
    const next = await Promise.all(paths.map(markOf));
    // Unchanged over a whole settle period: settled, whatever the timestamps say.
    moving = next.filter((m, i) => m.regular && !sameMark(m, marks[i]));
    marks = next;
  }
  return marks;
}

/**
 * Reads with `read` once `paths` are settled, and again while they changed during the read,
 * all within `opts.maxMs` (then UnsettledFileError). `last` holds the marks of the previous
 * whole read of each path (a renamed-in file is read at once) and is updated on success.
 */
export async function readSettled<T>(
  paths: readonly string[],
  read: () => Promise<T>,
  opts: SettleOptions,
  onWait?: (paths: string[]) => void,
  last?: LastReads,
): Promise<{ value: T; report: SettleReport }> {
  const started = performance.now();
  const watch: SettleWatch = { waitedFor: new Set(), onWait };
  for (;;) {
    const before = await waitSettled(paths, opts, watch, started, last);
    const value = await read();
    const after = await Promise.all(paths.map(markOf));
    if (sameMarks(before, after)) {
      rememberReads(last, after);
      return {
        value,
        report: { waitedFor: [...watch.waitedFor], waitedMs: Math.round(performance.now() - started) },
      };
    }
    const changed = after.filter((m, i) => !sameMark(m, before[i])).map((m) => m.path);
    const fresh = changed.filter((p) => !watch.waitedFor.has(p));
    for (const p of changed) watch.waitedFor.add(p);
    if (fresh.length > 0) onWait?.(fresh);
    const waited = Math.round(performance.now() - started);
    if (waited + opts.settleMs > opts.maxMs) throw new UnsettledFileError(changed, waited);
  }
}

const SETTLE_VARS = ["SHARDGATE_FILE_SETTLE_MS", "SHARDGATE_FILE_SETTLE_MAX_MS"] as const;

/** A message for the first SETTLE variable that is set but not a whole number of ms (or max < settle). */
export function settleEnvError(env: NodeJS.ProcessEnv): { variable: string; message: string } | null {
  for (const variable of SETTLE_VARS) {
    const v = env[variable];
    if (v !== undefined && v !== "" && !/^\d{1,7}$/.test(v))
      return { variable, message: `expected a whole number of milliseconds, got ${JSON.stringify(v)}` };
  }
  const o = settleOptions(env);
  if (o.maxMs < o.settleMs)
    return {
      variable: "SHARDGATE_FILE_SETTLE_MAX_MS",
      message: `must be at least SHARDGATE_FILE_SETTLE_MS (${o.settleMs}), got ${o.maxMs}`,
    };
  return null;
}

/** The settle period and bound from SHARDGATE_FILE_SETTLE_MS / _MAX_MS (checked at start), else the defaults. */
export function settleOptions(env: NodeJS.ProcessEnv): SettleOptions {
  const num = (v: string | undefined, d: number) => (v !== undefined && /^\d{1,7}$/.test(v) ? Number(v) : d);
  return {
    settleMs: num(env.SHARDGATE_FILE_SETTLE_MS, DEFAULT_SETTLE.settleMs),
    maxMs: num(env.SHARDGATE_FILE_SETTLE_MAX_MS, DEFAULT_SETTLE.maxMs),
  };
}
