// Hostname lookups for upstream connections that neither queue every other lookup behind a
// hung one nor hold the process's exit. Node's dns.lookup is getaddrinfo on libuv's thread
// pool, and libuv runs at most half the pool's threads ((4 + 1) / 2 = 2) on such "slow" work,
// so file I/O keeps its threads, but every other lookup of the process waits for those 2.
// With a DNS server that never answers, each new connection to a hostname member queued one
// more getaddrinfo that held a thread for the resolver's whole timeout (150 s with
// `timeout:30 attempts:5`): a member named `localhost` then failed its connects, and a process
// exit joins those threads, so SIGTERM never ended the process (test/outside/dns-hangs.test.ts).
//
// So, as a drop-in `lookup` for net.connect (undici's connector, http agents, http2):
// - IP literals never come here (net.connect skips lookup for them; answered at once if they
//   do); `localhost` and the names of /etc/hosts are answered from that file (hosts-file.ts);
// - other names are asked of the DNS servers of /etc/resolv.conf through c-ares
//   (dns.Resolver: sockets on the event loop, no thread), A and AAAA, `timeout` 1.5 s and 2
//   tries. An answer is kept for its TTL, at least 1 s, at most 30 s;
// - a name DNS says does not exist (NXDOMAIN, no data, SERVFAIL, REFUSED) is asked once of
//   getaddrinfo, which applies the resolv.conf `search` list (Kubernetes' short names) and
//   nsswitch: at most `maxConcurrent` such calls at a time, process-wide (1 with the default
//   pool: half of libuv's slow-work slots, the other left to the lookups of the Redis, Consul,
//   OTLP and Kubernetes clients);
// - failures are kept `negativeTtlMs`, so a dead name costs one question per interval, not
//   one per connection attempt; lookups of one name share one question;
// - every caller gets an answer within `timeoutMs`: `EDNS_TIMEOUT` otherwise.

import { lookup as dnsLookup, type LookupAddress, Resolver } from "node:dns";
import { isIP } from "node:net";
import { testDurationMs } from "../test-duration.js";
import { HostsFile } from "./hosts-file.js";

export interface LookupSettings {
  /** getaddrinfo calls in flight at most (process-wide). */
  readonly maxConcurrent: number;
  /** A caller's bound, from its call to its answer. */
  readonly timeoutMs: number;
  /** An answer's TTL is clamped to [minTtlMs, maxTtlMs] (getaddrinfo's, which has none: maxTtlMs). */
  readonly minTtlMs: number;
  readonly maxTtlMs: number;
  /** How long a failed lookup (NXDOMAIN, SERVFAIL, no answer) is answered from memory. */
  readonly negativeTtlMs: number;
  /** c-ares: the first try's timeout (doubling per try) and the tries per server. */
  readonly queryTimeoutMs: number;
  readonly queryTries: number;
  /** Names remembered at most (oldest dropped first). */
  readonly maxEntries: number;
}

export interface LookupStats {
  /** DNS questions asked through c-ares (one per name, A and AAAA together). */
  queries: number;
  /** getaddrinfo calls made (names DNS did not know). */
  calls: number;
  /** Answers from memory (positive or negative) or /etc/hosts. */
  cached: number;
  /** Callers answered EDNS_TIMEOUT, or questions that timed out. */
  timeouts: number;
  /** Lookups that ended in an error. */
  failures: number;
  /** Of those, by kind (failureKind): not_found, server_failure, timeout, other. */
  failuresByKind: Record<DnsFailureKind, number>;
}

export type DnsFailureKind = "not_found" | "server_failure" | "timeout" | "other";
export const DNS_FAILURE_KINDS: readonly DnsFailureKind[] = [
  "not_found",
  "server_failure",
  "timeout",
  "other",
];

/** A failed lookup's kind, from its code (c-ares' or getaddrinfo's). */
export function failureKind(code: string | undefined): DnsFailureKind {
  switch (code) {
    case "ENOTFOUND":
    case "ENODATA":
    case "ENONAME":
    case "EAI_NONAME":
      return "not_found";
    case "ESERVFAIL":
    case "EREFUSED":
    case "EAI_AGAIN":
    case "EAI_FAIL":
    case "EBADRESP":
      return "server_failure";
    case "EDNS_TIMEOUT":
    case "ETIMEOUT":
      return "timeout";
    default:
      return "other";
  }
}

type Family = 0 | 4 | 6;
type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;
interface LookupOptionsLike {
  family?: number | string;
  all?: boolean;
}

interface Entry {
  readonly until: number;
  readonly addresses: LookupAddress[] | null;
  readonly error: NodeJS.ErrnoException | null;
}

interface Waiter {
  readonly all: boolean;
  readonly family: Family;
  readonly callback: LookupCallback;
  timer: ReturnType<typeof setTimeout> | null;
  done: boolean;
}

/** The default bound: half of libuv's slow-work slots (half its pool, rounded up), at least one. */
export function defaultMaxConcurrent(env: NodeJS.ProcessEnv = process.env): number {
  const size = Number(env.UV_THREADPOOL_SIZE);
  const pool = Number.isInteger(size) && size > 0 ? Math.min(size, 1024) : 4;
  return Math.max(1, Math.floor(Math.floor((pool + 1) / 2) / 2));
}

// The lookup's bound and c-ares's first try are the waits of every test of a resolver that never
// answers: such tests shorten them (SHARDGATE_TEST_DNS_LOOKUP_MS, SHARDGATE_TEST_DNS_QUERY_MS;
// proxy/test-duration.ts, which can only shorten a bound).
export const DEFAULT_LOOKUP_SETTINGS: LookupSettings = Object.freeze({
  maxConcurrent: defaultMaxConcurrent(),
  timeoutMs: testDurationMs("DNS_LOOKUP_MS", 5000),
  minTtlMs: 1000,
  maxTtlMs: 30_000,
  negativeTtlMs: 2000,
  queryTimeoutMs: testDurationMs("DNS_QUERY_MS", 1500),
  queryTries: 2,
  maxEntries: 10_000,
});

/**
 * Addresses kept per name and family: a name answering thousands (c-ares takes a truncated
 * answer again over TCP, up to 64 KiB: some 4,000 A records; a hosts file has no limit) would
 * be held per cached name and copied to every caller. Past it the first ones are kept.
 */
export const MAX_ADDRESSES_PER_FAMILY = 64;
/** Names said once each in the truncation warning; past it they are still cut, not said. */
const MAX_WARNED_NAMES = 1000;

/** At most MAX_ADDRESSES_PER_FAMILY of each family, in their order; `list` itself if it fits. */
export function capAddresses(list: LookupAddress[]): LookupAddress[] {
  if (list.length <= MAX_ADDRESSES_PER_FAMILY) return list;
  const out: LookupAddress[] = [];
  let v4 = 0;
  let v6 = 0;
  for (const a of list) {
    if (a.family === 6 ? v6++ < MAX_ADDRESSES_PER_FAMILY : v4++ < MAX_ADDRESSES_PER_FAMILY) out.push(a);
  }
  return out;
}

/** c-ares codes after which getaddrinfo is asked (search list, nsswitch); others end the lookup. */
const ASK_GETADDRINFO = new Set(["ENOTFOUND", "ENODATA", "ESERVFAIL", "EREFUSED", "ENONAME", "EBADRESP"]);
const LOCALHOST: LookupAddress[] = [
  { address: "127.0.0.1", family: 4 },
  { address: "::1", family: 6 },
];

function familyOf(options: LookupOptionsLike | number | undefined): Family {
  const f = typeof options === "number" ? options : options?.family;
  if (f === 4 || f === "IPv4") return 4;
  if (f === 6 || f === "IPv6") return 6;
  return 0;
}

function dnsError(code: string, hostname: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code, hostname, syscall: "getaddrinfo" });
}

type Answer = { address: string; ttl: number }[];

export class BoundedLookup {
  readonly stats: LookupStats = {
    queries: 0,
    calls: 0,
    cached: 0,
    timeouts: 0,
    failures: 0,
    failuresByKind: { not_found: 0, server_failure: 0, timeout: 0, other: 0 },
  };
  private readonly cache = new Map<string, Entry>();
  /** Names being looked up, and who waits for them. */
  private readonly inFlight = new Map<string, Waiter[]>();
  /** Names waiting for a getaddrinfo slot, in order. */
  private readonly queued: string[] = [];
  private running = 0;
  private readonly resolver: Resolver;
  private readonly hosts: HostsFile;
  /** Bound once: handed to net.connect / undici / http agents as their `lookup`. */
  readonly lookup: (hostname: string, options: unknown, callback: LookupCallback) => void;

  constructor(
    private readonly settings: LookupSettings = DEFAULT_LOOKUP_SETTINGS,
    /** Monotonic ms: a wall clock stepped back must not keep an answer for the length of the step. */
    private readonly now: () => number = () => performance.now(),
    private readonly getaddrinfo: typeof dnsLookup = dnsLookup,
    hostsPath = "/etc/hosts",
  ) {
    this.resolver = new Resolver({ timeout: settings.queryTimeoutMs, tries: settings.queryTries });
    this.hosts = new HostsFile(hostsPath, 10_000, now);
    this.lookup = (hostname, options, callback) => {
      if (typeof options === "function") this.query(hostname, undefined, options as LookupCallback);
      else this.query(hostname, options as LookupOptionsLike | number | undefined, callback);
    };
  }

  /** Where a refused hosts file (hosts-file.ts) and a cut answer are said: the app's JSON log. */
  setHostsWarn(warn: (message: string) => void): void {
    this.hosts.setWarn(warn);
    this.warn = warn;
  }

  private warn: (message: string) => void = () => {};
  private readonly warned = new Set<string>();

  /** getaddrinfo calls in flight now (tests). */
  get active(): number {
    return this.running;
  }

  private query(
    hostname: string,
    options: LookupOptionsLike | number | undefined,
    callback: LookupCallback,
  ): void {
    const family = familyOf(options);
    const all = typeof options === "object" && options !== null && options.all === true;
    const literal = isIP(hostname);
    if (literal !== 0) {
      const one = { address: hostname, family: literal };
      process.nextTick(() => (all ? callback(null, [one]) : callback(null, hostname, literal)));
      return;
    }
    const key = hostname.toLowerCase();
    const waiter: Waiter = { all, family, callback, timer: null, done: false };
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.until > this.now()) {
      this.stats.cached++;
      process.nextTick(() => this.answer(waiter, hostname, hit));
      return;
    }
    if (hit !== undefined) this.cache.delete(key);
    waiter.timer = setTimeout(() => this.timedOut(waiter, hostname), this.settings.timeoutMs);
    waiter.timer.unref();
    const waiting = this.inFlight.get(key);
    if (waiting !== undefined) {
      waiting.push(waiter);
      return;
    }
    this.inFlight.set(key, [waiter]);
    this.hosts.find(key, (found) => {
      if (found !== undefined) {
        this.stats.cached++;
        this.settle(
          key,
          { until: this.now() + this.settings.minTtlMs, addresses: found, error: null },
          false,
        );
      } else if (key === "localhost" || key.endsWith(".localhost")) {
        // RFC 6761: never asked of DNS.
        this.settle(
          key,
          { until: this.now() + this.settings.maxTtlMs, addresses: LOCALHOST, error: null },
          false,
        );
      } else this.askDns(key);
    });
  }

  /** A and AAAA through c-ares; both answered (or failed) before deciding. */
  private askDns(key: string): void {
    this.stats.queries++;
    let pending = 2;
    let v4: Answer = [];
    let v6: Answer = [];
    let errCode = "";
    const done = (): void => {
      if (--pending > 0) return;
      const list: LookupAddress[] = [];
      let ttl = Infinity;
      for (const a of v4) {
        list.push({ address: a.address, family: 4 });
        ttl = Math.min(ttl, a.ttl * 1000);
      }
      for (const a of v6) {
        list.push({ address: a.address, family: 6 });
        ttl = Math.min(ttl, a.ttl * 1000);
      }
      if (list.length > 0) {
        const ms = Math.min(this.settings.maxTtlMs, Math.max(this.settings.minTtlMs, ttl));
        this.settle(key, { until: this.now() + ms, addresses: list, error: null }, true);
      } else if (errCode === "" || ASK_GETADDRINFO.has(errCode)) {
        this.queueGetaddrinfo(key);
      } else {
        if (errCode === "ETIMEOUT") this.stats.timeouts++;
        const e =
          errCode === "ETIMEOUT"
            ? dnsError(
                "EDNS_TIMEOUT",
                key,
                `DNS lookup of ${key}: no answer from ${this.resolver.getServers().join(", ")} ` +
                  `(${this.settings.queryTries} tries from ${this.settings.queryTimeoutMs} ms)`,
              )
            : dnsError(errCode, key, `DNS lookup of ${key} failed: ${errCode}`);
        this.fail(key, e);
      }
    };
    const worse = (err: NodeJS.ErrnoException): void => {
      const code = err.code ?? "EUNKNOWN";
      // A timeout or a refused socket outranks "no such name" from the other family.
      if (errCode === "" || ASK_GETADDRINFO.has(errCode)) errCode = code;
    };
    this.resolver.resolve4(key, { ttl: true }, (err, a) => {
      if (err !== null) worse(err);
      else v4 = a;
      done();
    });
    this.resolver.resolve6(key, { ttl: true }, (err, a) => {
      if (err !== null) worse(err);
      else v6 = a;
      done();
    });
  }

  private queueGetaddrinfo(key: string): void {
    if (this.running < this.settings.maxConcurrent) this.callGetaddrinfo(key);
    else this.queued.push(key);
  }

  private callGetaddrinfo(key: string): void {
    this.running++;
    this.stats.calls++;
    this.getaddrinfo(key, { all: true, family: 0 }, (err, addresses) => {
      this.running--;
      if (err !== null || addresses.length === 0)
        this.fail(key, err ?? dnsError("ENOTFOUND", key, `getaddrinfo ENOTFOUND ${key}`));
      else this.settle(key, { until: this.now() + this.settings.maxTtlMs, addresses, error: null }, true);
      this.next();
    });
  }

  /** Starts queued names while slots are free; names nobody waits for any more are dropped. */
  private next(): void {
    while (this.running < this.settings.maxConcurrent && this.queued.length > 0) {
      const key = this.queued.shift() as string;
      const waiting = this.inFlight.get(key);
      if (waiting === undefined) continue;
      if (waiting.every((w) => w.done)) {
        this.inFlight.delete(key);
        continue;
      }
      this.callGetaddrinfo(key);
    }
  }

  private fail(key: string, err: NodeJS.ErrnoException): void {
    this.stats.failures++;
    this.stats.failuresByKind[failureKind(err.code)]++;
    this.settle(key, { until: this.now() + this.settings.negativeTtlMs, addresses: null, error: err }, true);
  }

  private settle(key: string, given: Entry, remember: boolean): void {
    let entry = given;
    const all = given.addresses;
    if (all !== null && all.length > MAX_ADDRESSES_PER_FAMILY) {
      const kept = capAddresses(all);
      if (kept.length < all.length) {
        entry = { until: given.until, addresses: kept, error: null };
        if (!this.warned.has(key) && this.warned.size < MAX_WARNED_NAMES) {
          this.warned.add(key);
          this.warn(
            `upstream name ${key} resolved to ${all.length} addresses: keeping the first ` +
              `${kept.length} (at most ${MAX_ADDRESSES_PER_FAMILY} per address family)`,
          );
        }
      }
    }
    if (remember) this.remember(key, entry);
    const waiting = this.inFlight.get(key) ?? [];
    this.inFlight.delete(key);
    for (const w of waiting) this.answer(w, key, entry);
  }

  private remember(key: string, entry: Entry): void {
    this.cache.delete(key);
    if (this.cache.size >= this.settings.maxEntries) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(key, entry);
  }

  private timedOut(w: Waiter, hostname: string): void {
    if (w.done) return;
    w.done = true;
    this.stats.timeouts++;
    w.callback(
      dnsError(
        "EDNS_TIMEOUT",
        hostname,
        `DNS lookup of ${hostname} got no answer within ${this.settings.timeoutMs} ms ` +
          `(${this.running} lookups in flight, at most ${this.settings.maxConcurrent})`,
      ),
      "",
    );
  }

  private answer(w: Waiter, hostname: string, entry: Entry): void {
    if (w.done) return;
    w.done = true;
    if (w.timer !== null) clearTimeout(w.timer);
    if (entry.error !== null) {
      w.callback(entry.error, "");
      return;
    }
    const list =
      w.family === 0
        ? (entry.addresses as LookupAddress[])
        : (entry.addresses as LookupAddress[]).filter((a) => a.family === w.family);
    if (list.length === 0) {
      w.callback(
        dnsError("ENOTFOUND", hostname, `getaddrinfo ENOTFOUND ${hostname} (no IPv${w.family} address)`),
        "",
      );
      return;
    }
    if (w.all) w.callback(null, list);
    else w.callback(null, list[0].address, list[0].family);
  }
}

/** The process-wide instance: the thread pool it protects is process-wide too. */
export const upstreamLookup = new BoundedLookup();
