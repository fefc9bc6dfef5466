// The names of /etc/hosts, for the upstream lookup (bounded-lookup.ts): it asks DNS through
// c-ares, which does not read this file, and a name listed here must resolve even while the
// DNS server hangs (getaddrinfo, which would read it, is what must not be called then). Read
// on first use and again when older than `maxAgeMs`; an unreadable file is an empty one.

import type { LookupAddress } from "node:dns";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";

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

  constructor(
    private readonly path = "/etc/hosts",
    private readonly maxAgeMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The file's addresses for `name`, or undefined; calls back at once when the file is fresh. */
  find(name: string, callback: (found: LookupAddress[] | undefined) => void): void {
    if (this.now() - this.readAt < this.maxAgeMs) {
      callback(this.names.get(name));
      return;
    }
    this.reading ??= readFile(this.path, "utf8")
      .then(
        (text) => parseHosts(text),
        () => new Map<string, LookupAddress[]>(),
      )
      .then((names) => {
        this.names = names;
        this.readAt = this.now();
        this.reading = null;
      });
    void this.reading.then(() => callback(this.names.get(name)));
  }
}
