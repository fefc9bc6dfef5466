// Upstream connection pools of the undici engine: one undici Pool per upstream address
// (host:port), shared by every member and every shardgate pool that points there, created on
// first use with the socket bound of endpoints.ts, retired like those agents when no member
// points at the address any more. Keyed by address, not by member: connections go to
// addresses, and a pool per member made the request path's cost grow with the member count
// (10,000 keys over 1,000 members on 4 addresses: 1,000 pools, each with its own sockets
// and parsers, about 0.1x the throughput of 3 members in `npm run bench -- scale`). Shardgate
// pools with different connect timeouts on one address get one undici Pool each (the connector
// enforces the timeout).

import { Pool } from "undici";
import type { SnapshotMember } from "../routing/types.js";
import { registerOwnHeaderNames } from "./undici-header-names.js";
import { acceptUnsolicitedContinue } from "./undici-interim.js";
import { ReconnectGuard } from "./undici-reconnect-guard.js";

interface Entry {
  readonly address: string;
  readonly connectMs: number;
  readonly pool: Pool;
}

export class UndiciPools {
  /** host:port -> the address's pool (for the connect timeout it was made with). */
  private readonly map = new Map<string, Entry>();
  /** Pools of an address used by shardgate pools with another connect timeout (rare): "host:port|ms". */
  private readonly other = new Map<string, Entry>();
  private readonly retiring = new Set<ReturnType<typeof setTimeout>>();

  constructor(private readonly settings: { maxSockets: number; idleMs: number }) {
    registerOwnHeaderNames();
  }

  /** The pool for `member`'s address and `connectMs` (the connector enforces it); one Map lookup. */
  get(member: SnapshotMember, connectMs: number): Pool {
    const found = this.map.get(member.hostPort);
    if (found !== undefined && found.connectMs === connectMs) return found.pool;
    if (found === undefined) return this.create(this.map, member.hostPort, member, connectMs);
    const key = `${member.hostPort}|${connectMs}`;
    return this.other.get(key)?.pool ?? this.create(this.other, key, member, connectMs);
  }

  private create(into: Map<string, Entry>, key: string, member: SnapshotMember, connectMs: number): Pool {
    const guard = new ReconnectGuard(connectMs);
    const pool = new Pool(`http://${member.address.host}:${member.address.port}`, {
      connect: guard.connect,
      connections: this.settings.maxSockets,
      pipelining: 1,
      keepAliveTimeout: this.settings.idleMs,
      keepAliveMaxTimeout: this.settings.idleMs,
      // The data plane's timeout sweep owns the response timeout (it starts after the body).
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    guard.watch(pool);
    acceptUnsolicitedContinue(pool);
    into.set(key, { address: member.hostPort, connectMs, pool });
    return pool;
  }

  /** Retires the pools of addresses not in `live` (host:port keys). */
  retain(live: ReadonlySet<string>, graceMs: number): void {
    for (const m of [this.map, this.other])
      for (const [key, e] of m) {
        if (live.has(e.address)) continue;
        m.delete(key);
        this.retire(e.pool, graceMs);
      }
  }

  private retire(pool: Pool, graceMs: number): void {
    // close() lets running requests finish; destroy() after the grace cuts what is left.
    const t = setTimeout(() => {
      this.retiring.delete(t);
      pool.destroy().catch(() => undefined);
    }, graceMs);
    t.unref();
    this.retiring.add(t);
    // Closed before the grace (the usual case): the timer goes at once, and with it the last
    // reference to the pool (~16 KB each: churned addresses held memory for the whole grace).
    pool.close().then(
      () => {
        clearTimeout(t);
        this.retiring.delete(t);
      },
      () => undefined,
    );
  }

  socketCount(): { busy: number; idle: number } {
    let busy = 0;
    let idle = 0;
    for (const { pool } of [...this.map.values(), ...this.other.values()]) {
      const s = pool.stats;
      busy += s.connected - s.free;
      idle += s.free;
    }
    return { busy, idle };
  }

  closeAll(): void {
    for (const t of this.retiring) clearTimeout(t);
    this.retiring.clear();
    for (const { pool } of [...this.map.values(), ...this.other.values()])
      pool.destroy().catch(() => undefined);
    this.map.clear();
    this.other.clear();
  }
}
