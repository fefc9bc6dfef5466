// The names of /etc/hosts, for the upstream lookup (bounded-lookup.ts): it asks DNS through
// c-ares, which does not read this file, and a name listed here must resolve even while the
// DNS server hangs (getaddrinfo, which would read it, is what must not be called then). Read
// on first use and looked at again when older than `maxAgeMs`: read again only when it changed
// (inode, size, mtime), so a large file costs a stat per period, not a parse. An unreadable
// file is an empty one. Read through the bounded reader (config/file/bounded-read.ts): a path
// that is a FIFO would otherwise park a thread-pool thread for good, and a device be read
// whole; such a file is refused and taken as empty, said once (on stderr until the app hands
// its JSON log in: setWarn). A large file (an ad-blocking list of 10 MiB is common) is parsed
// as it streams, 64 KiB at a time, up to MAX_HOSTS_BYTES: before, anything above 1 MiB was
// taken as empty and its names went to DNS.

import type { LookupAddress } from "node:dns";
import { isIP } from "node:net";
import { StringDecoder } from "node:string_decoder";
import { forEachChunkBounded } from "../../config/file/bounded-read.js";
import { type FileMark, markOf, sameMark } from "../../config/file/settled-file.js";

/**
 * The most /etc/hosts may hold: ad-blocking lists run to 10-15 MiB (about 400,000 names); beyond
 * this it is refused (said once) and taken as empty.
 */
export const MAX_HOSTS_BYTES = 32 * 1024 * 1024;

function warnOnStderr(message: string): void {
  process.stderr.write(`shardgate: ${message}\n`);
}

/** The longest line read (a hosts line is an address and a few names). */
const MAX_LINE = 64 * 1024;

/** A name's list is searched up to this length; past it a set says what it holds. */
const SCAN_MAX = 8;

/** Builds name (lower case) -> its addresses, in file order, from lines as they come. */
export class HostsParser {
  readonly names = new Map<string, LookupAddress[]>();
  /**
   * The addresses of a name listed more than SCAN_MAX times, as a set: a search of its list per
   * line was quadratic in one name's addresses (100,000 lines of one name: ~5e9 comparisons).
   * Most names have one address, and a set each would cost 400,000 of them for an ad list.
   */
  private readonly many = new Map<string, Set<LookupAddress>>();
  /** One object per address: an ad-blocking list maps 400,000 names to 0.0.0.0. */
  private readonly addresses = new Map<string, LookupAddress>();
  private readonly decoder = new StringDecoder("utf8");
  private carry = "";
  /** Inside a line past MAX_LINE: skipped to its end (no hosts line is that long). */
  private skipping = false;

  /** A chunk of the file (a character split between chunks is kept whole). */
  write(chunk: Buffer): void {
    const text = this.carry + this.decoder.write(chunk);
    let from = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", from)) {
      if (this.skipping) this.skipping = false;
      else this.line(text.slice(from, nl));
      from = nl + 1;
    }
    this.carry = text.slice(from);
    // A file without line ends would otherwise be carried (and searched) whole, chunk after chunk.
    if (this.carry.length > MAX_LINE) {
      this.carry = "";
      this.skipping = true;
    }
  }

  end(): Map<string, LookupAddress[]> {
    if (!this.skipping) this.line(this.carry + this.decoder.end());
    this.carry = "";
    this.many.clear();
    return this.names;
  }

  private line(raw: string): void {
    const hash = raw.indexOf("#");
    const fields = (hash < 0 ? raw : raw.slice(0, hash)).trim().split(/\s+/);
    if (fields.length < 2) return;
    // A zone index (fe80::1%eth0) is not part of what net.connect takes from a lookup.
    const address = fields[0];
    let entry = this.addresses.get(address);
    if (entry === undefined) {
      const family = isIP(address);
      if (family === 0) return;
      entry = { address, family };
      this.addresses.set(address, entry);
    }
    for (let i = 1; i < fields.length; i++) {
      const name = fields[i].toLowerCase();
      const list = this.names.get(name);
      if (list === undefined) this.names.set(name, [entry]);
      else if (list.length < SCAN_MAX) {
        if (!list.includes(entry)) list.push(entry);
      } else {
        let set = this.many.get(name);
        if (set === undefined) {
          set = new Set(list);
          this.many.set(name, set);
        }
        if (!set.has(entry)) {
          set.add(entry);
          list.push(entry);
        }
      }
    }
  }
}

/** name (lower case) -> its addresses, in file order. */
export function parseHosts(text: string): Map<string, LookupAddress[]> {
  const p = new HostsParser();
  p.write(Buffer.from(text, "utf8"));
  return p.end();
}

export class HostsFile {
  private names = new Map<string, LookupAddress[]>();
  private readAt = -Infinity;
  private reading: Promise<void> | null = null;
  /** The file as last read (null: never, or refused): unchanged, it is not read again. */
  private mark: FileMark | null = null;
  /** A refusal was said; not again until a read succeeds. */
  private warned = false;

  constructor(
    private readonly path = "/etc/hosts",
    private readonly maxAgeMs = 10_000,
    /** Monotonic ms (a stepped wall clock must not stop the re-reads). */
    private readonly now: () => number = () => performance.now(),
    private warn: (message: string) => void = warnOnStderr,
    private readonly maxBytes = MAX_HOSTS_BYTES,
  ) {}

  /** Where a refusal is said from now on (the app's JSON log once it has one). */
  setWarn(warn: (message: string) => void): void {
    this.warn = warn;
  }

  /** The file's addresses for `name`, or undefined; calls back at once when the file is fresh. */
  find(name: string, callback: (found: LookupAddress[] | undefined) => void): void {
    if (this.now() - this.readAt < this.maxAgeMs) {
      callback(this.names.get(name));
      return;
    }
    this.reading ??= this.refresh().then((names) => {
      this.names = names;
      this.readAt = this.now();
      this.reading = null;
    });
    void this.reading.then(() => callback(this.names.get(name)));
  }

  private async refresh(): Promise<Map<string, LookupAddress[]>> {
    const before = await markOf(this.path);
    if (this.mark !== null && before.regular && sameMark(before, this.mark)) return this.names;
    const parser = new HostsParser();
    try {
      await forEachChunkBounded(this.path, this.maxBytes, (chunk) => parser.write(chunk));
    } catch (err) {
      this.mark = null;
      return this.unreadable(err as NodeJS.ErrnoException);
    }
    this.warned = false;
    // Kept only when the file held still while read; else the next period reads it again.
    const after = await markOf(this.path);
    this.mark = sameMark(before, after) ? after : null;
    return parser.end();
  }

  /** No names; a refused file (not regular, too large) is said once. A missing one is common. */
  private unreadable(err: NodeJS.ErrnoException): Map<string, LookupAddress[]> {
    if ((err.code === "ENOTREG" || err.code === "EFBIG") && !this.warned) {
      this.warned = true;
      this.warn(`hosts file refused, taken as empty: ${err.message}`);
    }
    return new Map();
  }
}
