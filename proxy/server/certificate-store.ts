// The listener's certificates: a default pair plus pairs chosen by SNI name (exact or
// "*.domain"), re-read when their files change (cert-manager swaps them in place or through
// a symlink) without a restart. A file that does not load (half-written, garbage, key not
// matching the cert) keeps the previous pair serving and is logged; the next change retries.
// Open connections keep the context they handshook with; new handshakes get the new one.
// A watched folder that is removed and made again (`rm -rf certs && cp -r new certs`, a
// volume remounted) leaves its watcher on the dead inode, deaf: a watcher that sees its folder
// go is dropped, each reload watches again a folder whose watcher was dropped or whose inode
// changed, and a folder gone is looked for every second.
// A file written in place is read only once it holds still (config/file/settled-file.ts): a
// reload that finds a file on the inode it was last read from changed within the settle
// period, or changed while it was read, keeps the pair serving and looks again one period
// later (logged), up to the bound, then keeps the previous pair (logged at error) until the
// next change. The watcher's debounce already waits for a pause in the writes; this also
// covers a write during the read and a reload called directly. A key that does not match its cert is refused by OpenSSL ("key
// values mismatch") and a PEM cut mid-block does not parse, but a chain file cut at a block's
// end parses as a leaf without its intermediates: that is what the settle keeps out. A file
// renamed or symlink-swapped into place (cert-manager's Secret volume) has a new inode and is
// read at once.
// With `workers: N` only the primary reads the files: each worker's store is given the pairs the
// primary last loaded (`given`, then `install` at every change), so a worker restarted after the
// files broke serves what its siblings serve rather than failing to start.

import { type FSWatcher, statSync, watch } from "node:fs";
import { basename, dirname } from "node:path";
import { createSecureContext, type SecureContext, type Server as TlsServer } from "node:tls";
import { MAX_PEM_BYTES, readFileBoundedSync } from "../../config/file/bounded-read.js";
import {
  DEFAULT_SETTLE,
  type FileMark,
  type LastReads,
  markOfSync,
  recentlyChanged,
  rememberReads,
  type SettleOptions,
  sameMark,
  sameMarks,
} from "../../config/file/settled-file.js";
import type { LogSink } from "../../config/log-sink.js";

export interface CertificateFiles {
  cert: string;
  key: string;
  /** SNI names this pair answers for; absent = the default pair. */
  names?: readonly string[];
}

interface Loaded {
  files: CertificateFiles;
  cert: Buffer;
  key: Buffer;
  context: SecureContext;
}

/** One pair as loaded, for another process (IPC is JSON: the PEM bytes in base64). */
export interface CertificatePem {
  files: CertificateFiles;
  cert: string;
  key: string;
}

/** How often a removed certificate folder is looked for again (ms). */
const MISSING_DIR_POLL_MS = 1000;

interface DirWatch {
  dir: string;
  /** The folder's inode when its watcher was made; -1 while the folder is missing. */
  ino: number;
  watcher?: FSWatcher;
}

function inodeOf(dir: string): number {
  try {
    return statSync(dir).ino;
  } catch {
    return -1;
  }
}

/**
 * A certificate or key file's bytes. Bounded (bounded-read.ts): these are re-read on the event
 * loop when they change, and readFileSync of a FIFO put in their place blocked it for good.
 */
function readPem(path: string): Buffer {
  try {
    return readFileBoundedSync(path, MAX_PEM_BYTES);
  } catch (err) {
    // Name the file that failed (the log line used the cert's name for a missing key too).
    const message = (err as Error).message;
    throw new Error(message.startsWith(`${path}: `) ? message : `${path}: ${message}`);
  }
}

function load(files: CertificateFiles): Loaded {
  return withContext(files, readPem(files.cert), readPem(files.key));
}

/**
 * A pair another process sent. Its shape is checked here: IPC hands over whatever JSON arrived,
 * and a field of the wrong type thrown at later (indexing the SNI names) would be an uncaught
 * exception in the worker's message handler.
 */
function fromPem(p: CertificatePem): Loaded {
  const f: Partial<CertificateFiles> | null = typeof p === "object" && p !== null ? p.files : null;
  if (typeof f !== "object" || f === null || typeof f.cert !== "string" || typeof f.key !== "string")
    throw new Error("a pair without its certificate and key file names");
  if (f.names !== undefined && !(Array.isArray(f.names) && f.names.every((n) => typeof n === "string")))
    throw new Error(`${f.cert} + ${f.key}: SNI names that are not a list of strings`);
  if (typeof p.cert !== "string" || typeof p.key !== "string")
    throw new Error(`${f.cert} + ${f.key}: PEM bytes that are not base64 text`);
  return withContext(p.files, Buffer.from(p.cert, "base64"), Buffer.from(p.key, "base64"));
}

function withContext(files: CertificateFiles, cert: Buffer, key: Buffer): Loaded {
  try {
    return { files, cert, key, context: createSecureContext({ cert, key }) };
  } catch (err) {
    throw new Error(`${files.cert} + ${files.key}: ${(err as Error).message}`);
  }
}

export class CertificateStore {
  private pairs: Loaded[];
  private byName = new Map<string, SecureContext>();
  private dirs: DirWatch[] = [];
  private poll: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private server: TlsServer | undefined;
  /** Reload outcomes, for tests and the log: "reloaded" or "kept". */
  onReload?: (result: "reloaded" | "kept", detail: string) => void;
  /** The pairs changed (a reload loaded new ones): the primary of workers: N hands them on. */
  onChanged?: () => void;
  /**
   * While files are waited for: when the wait began, and the last look's time and marks, on the
   * monotonic clock (a wall-clock step neither ends the wait early nor holds it).
   */
  private unsettled: { since: number; at: number; marks: FileMark[] } | undefined;
  /** The files' marks as last read whole: a file on another inode since was renamed in, whole. */
  private readonly lastReads: LastReads = new Map();
  /** Set by `given`: the pairs come from install(), never from the files. */
  private readonly follows: boolean;

  /**
   * Loads every pair now; throws (a config error for the caller) when one does not load. With
   * `given` (CertificateStore.given) the pairs are those bytes and no file is read or watched.
   */
  constructor(
    defaults: CertificateFiles,
    sni: readonly CertificateFiles[],
    private readonly logger: LogSink,
    private readonly debounceMs = 200,
    private readonly settle: SettleOptions = DEFAULT_SETTLE,
    given?: readonly CertificatePem[],
  ) {
    this.follows = given !== undefined;
    if (given !== undefined) this.pairs = given.map(fromPem);
    else {
      this.pairs = [defaults, ...sni].map(load);
      rememberReads(this.lastReads, this.paths().map(markOfSync));
    }
    this.index();
  }

  /** A store of the pairs another process loaded (a worker's: the primary's); throws when they do not make a context. */
  static given(pems: readonly CertificatePem[], logger: LogSink): CertificateStore {
    if (pems.length === 0) throw new Error("no certificate pairs were given");
    return new CertificateStore(pems[0].files, [], logger, 200, DEFAULT_SETTLE, pems);
  }

  /** Every pair as last loaded whole (the bytes serving now), for a process that does not read the files. */
  pems(): CertificatePem[] {
    return this.pairs.map((p) => ({
      files: p.files,
      cert: p.cert.toString("base64"),
      key: p.key.toString("base64"),
    }));
  }

  /**
   * Serves `pems` from now on (a store made by `given`: the primary loaded new pairs). Pairs that
   * do not make a context, or a message not shaped as pairs, keep the previous ones (logged);
   * they loaded in the primary, so none should.
   */
  install(pems: readonly CertificatePem[]): void {
    let next: Loaded[];
    try {
      if (!Array.isArray(pems) || pems.length === 0) throw new Error("not a list of pairs");
      next = pems.map(fromPem);
    } catch (err) {
      this.logger.error(
        { err: (err as Error).message },
        "listener certificates from the primary did not load; still serving the previous ones",
      );
      return;
    }
    this.pairs = next;
    this.index();
    this.server?.setSecureContext({ cert: this.pairs[0].cert, key: this.pairs[0].key });
    this.logger.info({ pairs: next.length }, "listener certificates from the primary installed");
  }

  get defaultPair(): { cert: Buffer; key: Buffer } {
    return { cert: this.pairs[0].cert, key: this.pairs[0].key };
  }

  /** Node's SNICallback: the pair for `name`, else the default. */
  readonly SNICallback = (name: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const lower = name.toLowerCase();
    let ctx = this.byName.get(lower);
    if (ctx === undefined) {
      const dot = lower.indexOf(".");
      if (dot > 0) ctx = this.byName.get(`*${lower.slice(dot)}`);
    }
    cb(null, ctx ?? this.pairs[0].context);
  };

  /** Starts watching the files' folders; the default pair is installed on `server` on change. */
  watch(server: TlsServer): void {
    this.server = server;
    if (this.follows) return;
    const dirs = new Set(this.pairs.flatMap((p) => [dirname(p.files.cert), dirname(p.files.key)]));
    for (const dir of dirs) this.dirs.push(this.watchDir({ dir, ino: -1 }));
  }

  close(): void {
    this.closed = true;
    for (const d of this.dirs) d.watcher?.close();
    this.dirs = [];
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.poll !== undefined) clearInterval(this.poll);
  }

  /** (Re)makes `d`'s watcher when its folder is there and is not the inode watched. */
  private watchDir(d: DirWatch): DirWatch {
    const ino = inodeOf(d.dir);
    if (ino === d.ino && d.watcher !== undefined) return d;
    d.watcher?.close();
    d.watcher = undefined;
    d.ino = ino;
    if (ino === -1) {
      this.pollMissing();
      return d;
    }
    try {
      const self = basename(d.dir);
      const w = watch(d.dir, { persistent: false }, (_event, name) => {
        // The folder itself went (inotify names it): this watcher is deaf from now on, and
        // a folder made again may reuse the inode number, so the inode alone cannot tell.
        if (name === self) {
          w.close();
          if (d.watcher === w) d.watcher = undefined;
        }
        this.schedule();
      });
      w.on("error", (err) =>
        this.logger.error({ dir: d.dir, err: err.message }, "certificate folder watch failed"),
      );
      d.watcher = w;
    } catch (err) {
      d.ino = -1;
      this.logger.error({ dir: d.dir, err: (err as Error).message }, "certificate folder watch failed");
      this.pollMissing();
    }
    return d;
  }

  /** Folders replaced or removed since they were watched get a watcher on what is there now. */
  private rewatch(): boolean {
    let replaced = false;
    for (const d of this.dirs) {
      const now = inodeOf(d.dir);
      // Unchanged: still the folder watched, or still missing.
      if (now === d.ino && (d.watcher !== undefined || now === -1)) continue;
      replaced = true;
      const what = now === -1 ? "removed; looking for it every second" : "replaced; watching the new one";
      this.logger.warn({ dir: d.dir }, `certificate folder ${what}`);
      this.watchDir(d);
    }
    return replaced;
  }

  private pollMissing(): void {
    if (this.poll !== undefined || this.closed) return;
    this.poll = setInterval(() => {
      if (this.dirs.every((d) => d.ino !== -1)) {
        clearInterval(this.poll);
        this.poll = undefined;
        return;
      }
      // A folder back: its files may have come with it, before its watcher existed.
      if (this.rewatch()) this.schedule();
    }, MISSING_DIR_POLL_MS);
    this.poll.unref();
  }

  private schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload();
    }, this.debounceMs);
    this.timer.unref();
  }

  /** Re-reads every pair once their files hold still; each one that fails keeps its previous version. */
  reload(): void {
    if (this.server !== undefined) this.rewatch();
    const paths = this.paths();
    const before = paths.map(markOfSync);
    // Changed within the settle period, unless unchanged since the last look (a whole period):
    // timestamps in the future must not hold a rotation off for ever.
    const u = this.unsettled;
    const still =
      u !== undefined && performance.now() - u.at >= this.settle.settleMs && sameMarks(u.marks, before);
    const moving = still ? [] : recentlyChanged(before, this.settle.settleMs, Date.now(), this.lastReads);
    if (moving.length > 0) {
      this.waitFor(
        moving.map((m) => m.path),
        before,
      );
      return;
    }
    const { next, changed, errors: kept } = this.readPairs();
    const after = paths.map(markOfSync);
    if (!sameMarks(before, after)) {
      this.waitFor(
        after.filter((m, i) => !sameMark(m, before[i])).map((m) => m.path),
        after,
      );
      return;
    }
    if (this.unsettled !== undefined)
      this.logger.info(
        { files: paths, waitedMs: Math.round(performance.now() - this.unsettled.since) },
        "listener certificate files held still; read them whole",
      );
    this.unsettled = undefined;
    rememberReads(this.lastReads, after);
    this.adopt(next, changed);
    if (kept.length > 0) {
      this.logger.error({ files: kept }, "listener certificate did not load; still serving the previous one");
      this.onReload?.("kept", kept.join("; "));
    }
  }

  /**
   * Every pair read from its files: a pair whose bytes did not change stays the same object, and
   * one that does not load stays as it was, its error said.
   */
  private readPairs(): { next: Loaded[]; changed: number; errors: string[] } {
    const errors: string[] = [];
    let changed = 0;
    const next = this.pairs.map((old) => {
      try {
        const loaded = load(old.files);
        if (loaded.cert.equals(old.cert) && loaded.key.equals(old.key)) return old;
        changed++;
        return loaded;
      } catch (err) {
        errors.push((err as Error).message);
        return old;
      }
    });
    return { next, changed, errors };
  }

  /**
   * Re-reads every pair now, all or nothing (a config reload, SIGHUP: the reloader waited for the
   * files to hold still): the errors naming the files when one does not load, and then every
   * pair keeps serving as it was; else the pairs that changed serve from now on.
   */
  reread(): string[] {
    const { next, changed, errors } = this.readPairs();
    if (errors.length > 0) return errors;
    rememberReads(this.lastReads, this.paths().map(markOfSync));
    this.adopt(next, changed);
    return [];
  }

  /** Serves `next`, of which `changed` pairs are new (none: nothing to do). */
  private adopt(next: Loaded[], changed: number): void {
    this.pairs = next;
    if (changed === 0) return;
    this.index();
    this.server?.setSecureContext({ cert: this.pairs[0].cert, key: this.pairs[0].key });
    this.logger.info({ changed }, "listener certificates reloaded");
    this.onReload?.("reloaded", `${changed} pair(s)`);
    this.onChanged?.();
  }

  /** Every pair's certificate and key files, each once. */
  paths(): string[] {
    return [...new Set(this.pairs.flatMap((p) => [p.files.cert, p.files.key]))];
  }

  /** `paths` are being written: look again one settle period later, within the bound. */
  private waitFor(paths: string[], marks: FileMark[]): void {
    const now = performance.now();
    const { settleMs, maxMs } = this.settle;
    if (this.unsettled === undefined) {
      this.unsettled = { since: now, at: now, marks };
      this.logger.info(
        { files: paths, settleMs, maxMs },
        `listener certificate files changed within the last ${settleMs} ms; waiting for them to hold still`,
      );
    } else if (!sameMarks(this.unsettled.marks, marks)) {
      // Changed since the last look: the period starts again from here.
      this.unsettled.marks = marks;
      this.unsettled.at = now;
    }
    const waited = Math.round(now - this.unsettled.since);
    if (waited + settleMs > maxMs) {
      this.unsettled = undefined;
      const detail = `${paths.join(", ")}: still being written after ${waited} ms`;
      this.logger.error(
        { files: paths, waitedMs: waited },
        "listener certificate files still being written; still serving the previous pair until the next change",
      );
      this.onReload?.("kept", detail);
      return;
    }
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload();
    }, settleMs);
    this.timer.unref();
  }

  private index(): void {
    const m = new Map<string, SecureContext>();
    for (const p of this.pairs) for (const n of p.files.names ?? []) m.set(n.toLowerCase(), p.context);
    this.byName = m;
  }
}
