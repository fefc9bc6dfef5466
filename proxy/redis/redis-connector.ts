// ioredis's connector for a single Redis (`redis.url`), resolving a hostname through the
// bounded upstream lookup (proxy/net/bounded-lookup.ts) instead of net.connect's getaddrinfo.
// ioredis passes no `lookup` to its own connector, and reconnects every few seconds while
// Redis is away: with a DNS server that hangs, each reconnect queued one more getaddrinfo
// that held a thread for the resolver's whole timeout, and a process exit joins those
// threads, so SIGTERM never ended the process (test/outside/dns-hangs.test.ts).
// ioredis's connectTimeout (1 s by default) is shorter than the lookup's bound (5 s), so with
// a name hung in DNS ioredis reported "connect ETIMEDOUT" although no connect had started:
// `namingLookup` turns that error into one naming the DNS lookup still pending.

import { createConnection } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { AbstractConnector, type RedisOptions } from "ioredis";
import { upstreamLookup } from "../net/bounded-lookup.js";
import { PendingLookups } from "../net/pending-lookups.js";
import { boundReplies, type ReplyLimit } from "./reply-bound.js";

/** The Redis clients' lookups (single Redis, sentinels, the sentinels' master). */
export const redisLookups = new PendingLookups(upstreamLookup.lookup);

/**
 * ioredis's "connect ETIMEDOUT" for `host`, reworded when the lookup of `host` was what was
 * still pending (the connect had not started); any other error as it is.
 */
export function namingLookup(err: Error, host: string | undefined): Error {
  const e = err as NodeJS.ErrnoException;
  if (host === undefined || e.code !== "ETIMEDOUT" || e.syscall !== "connect") return err;
  return redisLookups.pendingError(host, "connect ETIMEDOUT: connectTimeout expired first") ?? err;
}

type Stream = Awaited<ReturnType<AbstractConnector["connect"]>>;

export class LookupConnector extends AbstractConnector {
  private readonly options: RedisOptions;

  constructor(options: unknown) {
    const o = options as RedisOptions;
    super(o.disconnectTimeout ?? 2000);
    this.options = o;
  }

  connect(): Promise<Stream> {
    const o = this.options;
    this.connecting = true;
    const target =
      o.path !== undefined && o.path !== ""
        ? { path: o.path }
        : {
            host: o.host ?? "localhost",
            port: o.port ?? 6379,
            family: o.family,
            lookup: redisLookups.lookup,
          };
    // Like ioredis's own: the socket is made on the next tick, unless disconnect() came first.
    return new Promise((resolve, reject) => {
      process.nextTick(() => {
        if (!this.connecting) {
          reject(new Error("Connection is closed."));
          return;
        }
        try {
          this.stream = o.tls === undefined ? createConnection(target) : tlsConnect({ ...target, ...o.tls });
        } catch (err) {
          reject(err);
          return;
        }
        this.stream.once("error", (err: Error) => {
          this.firstError = err;
        });
        resolve(this.stream);
      });
    });
  }
}

/**
 * LookupConnector whose connections are watched by the reply bound (reply-bound.ts): a reply
 * over `max` bytes drops the connection and calls `onExceeded`.
 */
export function boundedConnector(max: number | ReplyLimit, onExceeded: () => void): typeof LookupConnector {
  return class BoundedConnector extends LookupConnector {
    override async connect(): Promise<Stream> {
      const stream = await super.connect();
      boundReplies(stream, max, onExceeded);
      return stream;
    }
  };
}
