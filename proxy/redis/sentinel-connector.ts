// ioredis's Sentinel connector with every hostname resolved through the bounded upstream
// lookup (proxy/net/bounded-lookup.ts), as redis-connector.ts does for a single Redis. ioredis
// asks each sentinel through a Redis client of its own (StandaloneConnector: net.connect's
// getaddrinfo) and connects to the master sentinel names with a plain net.connect: both
// resolved on libuv's thread pool, and a DNS server that hangs for a sentinel's name held one
// thread per attempt and the process's exit. Here the sentinel clients get LookupConnector
// and the master's address the lookup. Both hooks are private in ioredis's types, so they are
// reached through the prototype; ioredis 6's own Sentinel code is otherwise unchanged.
// A sentinel client's 1 s connectTimeout fires before the lookup's 5 s bound: its error names
// the lookup when that was what was pending (namingLookup, redis-connector.ts).

import type { LookupFunction } from "node:net";
import { type Redis, type SentinelConnectionOptions, SentinelConnector } from "ioredis";
import { boundedConnector, LookupConnector, namingLookup, redisLookups } from "./redis-connector.js";
import { boundReplies, type ReplyLimit } from "./reply-bound.js";

interface SentinelInternals {
  connectToSentinel(endpoint: unknown, options?: object): Redis;
  resolve(endpoint: unknown): Promise<object | null>;
}

const base = SentinelConnector.prototype as unknown as SentinelInternals;
const lookup = redisLookups.lookup as LookupFunction;

export class LookupSentinelConnector extends SentinelConnector {
  // ioredis hands a Connector its whole options object (ConnectorConstructor: `unknown`).
  constructor(options: unknown) {
    super(options as SentinelConnectionOptions);
  }
}

/**
 * The last connection error of each connector's sentinel clients. ioredis drops it (it listens
 * with a no-op and reports "Connection is closed."), so an operator never learnt that a
 * sentinel's name did not resolve; it is added to the failure's message here.
 */
const sentinelErrors = new WeakMap<SentinelConnector, Error>();

const own = LookupSentinelConnector.prototype as unknown as SentinelInternals;
own.connectToSentinel = function (this: SentinelConnector, endpoint, options) {
  const client = base.connectToSentinel.call(this, endpoint, { Connector: LookupConnector, ...options });
  const host = (endpoint as { host?: string } | null)?.host;
  client.on("error", (err: Error) => sentinelErrors.set(this, namingLookup(err, host)));
  return client;
};
own.resolve = async function (this: SentinelConnector, endpoint) {
  sentinelErrors.delete(this);
  let master: object | null;
  try {
    master = await base.resolve.call(this, endpoint);
  } catch (err) {
    const cause = sentinelErrors.get(this);
    if (cause === undefined || !(err instanceof Error) || err.message.includes(cause.message)) throw err;
    throw new Error(`${err.message} (${cause.message})`);
  }
  return master === null || master === undefined ? master : { ...master, lookup };
};

type MasterStream = Awaited<ReturnType<SentinelConnector["connect"]>>;

/**
 * LookupSentinelConnector whose connections are all watched by the reply bound: the one to the
 * master, and each sentinel client's (which only watched the master before: a sentinel answering
 * its SENTINEL queries with an endless reply grew the proxy's memory as a hostile Redis did).
 */
export function boundedSentinelConnector(
  max: number | ReplyLimit,
  onExceeded: () => void,
): typeof LookupSentinelConnector {
  const SentinelClientConnector = boundedConnector(max, onExceeded);
  class BoundedSentinelConnector extends LookupSentinelConnector {
    override async connect(eventEmitter: Parameters<SentinelConnector["connect"]>[0]): Promise<MasterStream> {
      const stream = await super.connect(eventEmitter);
      boundReplies(stream, max, onExceeded);
      return stream;
    }
  }
  const proto = BoundedSentinelConnector.prototype as unknown as SentinelInternals;
  proto.connectToSentinel = function (this: SentinelConnector, endpoint, options) {
    return own.connectToSentinel.call(this, endpoint, { Connector: SentinelClientConnector, ...options });
  };
  return BoundedSentinelConnector;
}
