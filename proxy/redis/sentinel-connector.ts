// ioredis's Sentinel connector with every hostname resolved through the bounded upstream
// lookup (proxy/net/bounded-lookup.ts), as redis-connector.ts does for a single Redis. ioredis
// asks each sentinel through a Redis client of its own (StandaloneConnector: net.connect's
// getaddrinfo) and connects to the master sentinel names with a plain net.connect: both
// resolved on libuv's thread pool, and a DNS server that hangs for a sentinel's name held one
// thread per attempt and the process's exit. Here the sentinel clients get LookupConnector
// and the master's address the lookup. Both hooks are private in ioredis's types, so they are
// reached through the prototype; ioredis 6's own Sentinel code is otherwise unchanged.

import type { LookupFunction } from "node:net";
import { type Redis, type SentinelConnectionOptions, SentinelConnector } from "ioredis";
import { upstreamLookup } from "../net/bounded-lookup.js";
import { LookupConnector } from "./redis-connector.js";

interface SentinelInternals {
  connectToSentinel(endpoint: unknown, options?: object): Redis;
  resolve(endpoint: unknown): Promise<object | null>;
}

const base = SentinelConnector.prototype as unknown as SentinelInternals;
const lookup = upstreamLookup.lookup as LookupFunction;

export class LookupSentinelConnector extends SentinelConnector {
  // ioredis hands a Connector its whole options object (ConnectorConstructor: `unknown`).
  constructor(options: unknown) {
    super(options as SentinelConnectionOptions);
  }
}

const own = LookupSentinelConnector.prototype as unknown as SentinelInternals;
own.connectToSentinel = function (this: SentinelConnector, endpoint, options) {
  return base.connectToSentinel.call(this, endpoint, { Connector: LookupConnector, ...options });
};
own.resolve = async function (this: SentinelConnector, endpoint) {
  const master = await base.resolve.call(this, endpoint);
  return master === null || master === undefined ? master : { ...master, lookup };
};
