// The names of /etc/hosts, for the upstream lookup (bounded-lookup.ts): it asks DNS through
// c-ares, which does not read this file, and a name listed here must resolve even while the
// DNS server hangs (getaddrinfo, which would read it, is what must not be called then). Read
// on first use and again when older than `maxAgeMs`; an unreadable file is an empty one.
// Read through the bounded reader (config/file/bounded-read.ts): a path that is a FIFO would
// otherwise park a thread-pool thread for good, and a device or a huge file be read whole;
// such a file is refused (said once, on stderr) and taken as empty.

import type { LookupAddress } from "node:dns";
import { isIP } from "node:net";
import { readFileBounded } from "../../config/file/bounded-read.js";

/** The most /etc/hosts may hold (a large ad-blocking list is a few MiB: beyond, it is refused). */
export const MAX_HOSTS_BYTES = 1024 * 1024;

function warnOnStderr(message: string): void {
  process.stderr.write(`shardgate: ${message}\n`);
}

/** name (lower case) -> its addresses, in file order. */
export function parseHosts(text: string): Map<string, LookupAddress[]> {
  const out = new Map<string, LookupAddress[]>();
  for (const raw of text.split("\n")) {
    const hash = raw.indexOf("#");
    const fields = (hash < 0 ? raw : raw.slice(0, hash)).trim().split(/\s+/);
    if (fields.length < 2) continue;
    // A zone index (fe80::1%eth0) is not part of what net.connect takes from a lookup.
    const address = fields[0];
    const family = isIP(address);
    if (family === 0) continue;
    for (let i = 1; i < fields.length; i++) {
      const name = fields[i].toLowerCase();
      const list = out.get(name);
      if (list === undefined) out.set(name, [{ address, family }]);
      else if (!list.some((a) => a.address === address)) list.push({ address, family });
    }
  }
  return out;
}

export class HostsFile {
  private names = new Map<string, LookupAddress[]>();
  private readAt = -Infinity;
  private reading: Promise<void> | null = null;
  /** A refusal was said; not again until a read succeeds. */
  private warned = false;

  constructor(
    private readonly path = "/etc/hosts",
    private readonly maxAgeMs = 10_000,
    /** Monotonic ms (a stepped wall clock must not stop the re-reads). */
    private readonly now: () => number = () => performance.now(),
    private readonly warn: (message: string) => void = warnOnStderr,
    private readonly maxBytes = MAX_HOSTS_BYTES,
  ) {}

  /** The file's addresses for `name`, or undefined; calls back at once when the file is fresh. */
  find(name: string, callback: (found: LookupAddress[] | undefined) => void): void {
    if (this.now() - this.readAt < this.maxAgeMs) {
      callback(this.names.get(name));
      return;
    }
    this.reading ??= readFileBounded(this.path, this.maxBytes)
      .then(
        (bytes) => {
          this.warned = false;
          return parseHosts(bytes.toString("utf8"));
        },
        (err: NodeJS.ErrnoException) => this.unreadable(err),
      )
      .then((names) => {
        this.names = names;
        this.readAt = this.now();
        this.reading = null;
      });
    void this.reading.then(() => callback(this.names.get(name)));
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
