// The config file's schema: the one place that says which keys exist, their defaults, and
// how values are normalized (durations to ms, sizes to bytes, addresses to {host, port},
// key specs to tagged objects). Every TypeScript config type is derived from it.
//
// The schema is idempotent: parsing an already-normalized config yields the same value.
// The replicated cluster state relies on that to re-validate routing it receives as a
// command (see routingSchema).

import { isIP } from "node:net";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { DEFAULT_MAGLEV_TABLE_SIZE, isPrime, MAX_MAGLEV_TABLE_SIZE } from "../../ring/maglev.js";
import { DEFAULT_POINTS_PER_WEIGHT } from "../../ring/ring-hash.js";
import { type Address, type Cidr, parseAddress, parseCidr } from "../address.js";
import { cookieSchema } from "./cookie-schema.js";
import { affinitySchema, cacheSchema, rateLimitSchema, redisSchema } from "./edge-schema.js";
import { type HostMatch, parseHostMatch } from "./host-match.js";
import { type KeySpec, parseKeySpec } from "./key-spec.js";
import { bad, type Parsed } from "./parsed.js";
import { deriveStatefulSetPeers } from "./statefulset-peers.js";
import { parseStatusRanges, type StatusRange } from "./status-ranges.js";
import { tableLimitError } from "./table-limits.js";
import { parseDuration, parseSize } from "./units.js";
import { upstreamTlsSchema } from "./upstream-tls-schema.js";
import { field } from "./zod-field.js";

export type { Address, Cidr, HostMatch, KeySpec, StatusRange };

/** A duration that drives a timer: at most MAX_TIMER_MS (parseDuration's default bound). */
const duration = () => field((v) => parseDuration(v));
/** A period that paces a loop (probe interval, tick, cool-down): 0 would make it spin, so >= 1ms. */
/** admin.token's floor, the same as cluster.secret's (proxy/cluster/cluster-settings.ts). */
export const MIN_ADMIN_TOKEN_BYTES = 16;

const period = () => field((v) => parseDuration(v, undefined, 1));
const size = () => field(parseSize);
/** listen.maxHeaderSize's bounds, Envoy's for max_request_headers_kb. */
const MIN_HEADER_SIZE = 1024;
const MAX_HEADER_SIZE = 8 * 1024 * 1024;
/**
 * admin.maxBodySize's bound: the largest cluster command (config/state/commands.ts,
 * MAX_COMMAND_BYTES). Every admin body is read whole into memory before it is parsed, and none
 * larger could ever be committed; `100gb` passed `validate` and let one request hold that much.
 */
const MAX_ADMIN_BODY_SIZE = 8 * 1024 * 1024;
/**
 * admin.maxBodySize's floor. `0` passed `validate` and refused every admin POST with a body 413
 * (a drain, a breaker override): nginx's client_max_body_size reads 0 as "no limit", so an
 * operator from there meant the opposite. 1 KiB holds the admin API's small JSON commands.
 */
const MIN_ADMIN_BODY_SIZE = 1024;

function adminBodySize(input: unknown): Parsed<number> {
  const size = parseSize(input, 0, MAX_ADMIN_BODY_SIZE);
  if (!size.ok || size.value >= MIN_ADMIN_BODY_SIZE) return size;
  return bad(
    `at least 1kb (${MIN_ADMIN_BODY_SIZE} bytes): a smaller cap refuses every admin request with a body 413, and 0 does not mean "no limit" here (at most 8mb)`,
  );
}
const address = () => field((v) => parseAddress(v, false));
const listenAddress = () => field((v) => parseAddress(v, true));
const posInt = () =>
  z.int({ error: "expected a positive integer" }).min(1, { error: "expected a positive integer" });
const nonEmpty = () => z.string().trim().min(1);
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const name = (what: string) =>
  z.string().regex(NAME, { error: `expected a ${what}: letters, digits, "_", ".", ":", "-" (max 128)` });
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headerName = () => z.string().regex(HEADER_NAME, { error: "expected an HTTP header name" });

let currentBaseDir = process.cwd();
/** Sets the folder relative paths resolve against for the next parse (parse is synchronous). */
export function setSchemaBaseDir(dir: string): void {
  currentBaseDir = dir;
}
const filePath = () => nonEmpty().transform((p) => (isAbsolute(p) ? p : resolve(currentBaseDir, p)));

// ---------------------------------------------------------------------------------- listen

/** What a client's FIN means while its HTTP/1.1 request is in flight (README "Security limits", Half-close). */
export const CLIENT_HALF_CLOSE = ["abort", "answer"] as const;
export type ClientHalfClose = (typeof CLIENT_HALF_CLOSE)[number];

const listenSchema = z.strictObject({
  /** Public proxy listener. Defaults to loopback so an unconfigured instance is not exposed. */
  http: listenAddress().default({ host: "127.0.0.1", port: 8080 }),
  admin: listenAddress().default({ host: "127.0.0.1", port: 9901 }),
  tls: z
    .strictObject({
      cert: filePath(),
      key: filePath(),
      /** More pairs chosen by SNI name (exact or "*.domain"); the pair above is the default. */
      sni: z
        .array(
          z.strictObject({ names: z.array(z.string().min(1)).min(1), cert: filePath(), key: filePath() }),
        )
        .default([]),
    })
    .optional(),
  /** Every connection opens with a PROXY v1/v2 header, accepted only from these peers (README "Client address behind a load balancer"). */
  proxyProtocol: z.strictObject({ trusted: z.array(field(parseCidr)).min(1) }).optional(),
  timeouts: z
    .strictObject({
      /** Whole request, first byte in to last byte out. */
      request: duration().default(60_000),
      /** Time allowed to receive the request headers (Node's headersTimeout). */
      headers: duration().default(10_000),
      /** Socket inactivity timeout. */
      idle: duration().default(60_000),
      /** How long an idle keep-alive client connection stays open (Node's keepAliveTimeout). */
      keepAlive: duration().default(5_000),
      /** An answer none of whose bytes the client took this long is cut (nginx's send_timeout); absent = idle. */
      send: duration().optional(),
    })
    .prefault({}),
  /**
   * Request head bytes (HTTP/1.1 head, HTTP/2 header list). Bounded as Envoy bounds
   * max_request_headers_kb (1 KB to 8 MB): 0 was taken by Node's HTTP/1.1 parser as its own
   * 16 KB default while HTTP/2 answered every request 431, and over 4 GB - 1 (SETTINGS are 32
   * bits) the first h2c client's session threw and ended the process
   * (test/outside/config-header-size-bounds.test.ts).
   */
  maxHeaderSize: field((v) => parseSize(v, MIN_HEADER_SIZE, MAX_HEADER_SIZE)).default(16 * 1024),
  /** Open client connections per process (each worker has its own); past it: 503 too_many_connections (proxy/server/connection-cap.ts). */
  maxConnections: posInt().max(1_000_000).default(10_000),
  /**
   * Requests one client address may have in flight at once on one member address (each holds
   * one of the address's 256 upstream connections until its answer is read); past it 503
   * client_share_exceeded (proxy/forward/client-share.ts). 0 = off; absent = 64 (a quarter).
   */
  maxUpstreamPerClient: z
    .int({ error: "expected an integer 0..256" })
    .min(0, { error: "expected an integer 0..256" })
    .max(256, { error: "expected an integer 0..256" })
    .optional(),
  /**
   * An HTTP/1.1 client's FIN with a request in flight: "abort" (nginx, Envoy) is the client
   * leaving, 499 and the upstream request cut; "answer" (HAProxy without abortonclose) is a
   * half-close, its complete requests answered, then the connection closed.
   */
  clientHalfClose: z.enum(CLIENT_HALF_CLOSE).default("abort"),
  /** HTTP/2 next to HTTP/1.1: h2 by ALPN over TLS, h2c with prior knowledge on a plain port (README "HTTP/2 and gRPC"). */
  http2: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** SETTINGS_MAX_CONCURRENT_STREAMS per client connection. */
      maxConcurrentStreams: posInt().max(10_000).default(100),
    })
    .prefault({}),
});

// ----------------------------------------------------------------------------------- pools

export const memberSchema = z.strictObject({
  id: name("member id"),
  address: address(),
  weight: posInt().default(1),
});

export const poolConsulSchema = z.strictObject({
  service: nonEmpty(),
  passingOnly: z.boolean().default(true),
  tags: z.array(nonEmpty()).default([]),
  /** Consul's filter expression, passed through to the health endpoint. */
  filter: nonEmpty().optional(),
  datacenter: nonEmpty().optional(),
  /** Treat a "warning" check status as healthy. */
  warningIsHealthy: z.boolean().default(false),
});

/**
 * A Kubernetes Service's EndpointSlices. `port` is the EndpointSlice port: its name (the
 * Service port's name) or the number the pods listen on (the Service's targetPort).
 */
const poolKubernetesSchema = z.strictObject({
  service: nonEmpty(),
  namespace: nonEmpty(),
  port: z.union([
    z.int().min(1).max(65535),
    z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, {
      error: "expected a port name (lowercase DNS label) or a number 1..65535",
    }),
  ]),
  /** Outside a cluster: a kubeconfig file (its current context); absent = in-cluster service account. */
  kubeconfig: nonEmpty().optional(),
});

/** Exactly one discovery source per pool. */
const poolDiscoverySchema = z
  .strictObject({ consul: poolConsulSchema.optional(), kubernetes: poolKubernetesSchema.optional() })
  .check((ctx) => {
    const n = (ctx.value.consul ? 1 : 0) + (ctx.value.kubernetes ? 1 : 0);
    if (n !== 1) {
      ctx.issues.push({
        code: "custom",
        path: [],
        input: ctx.value,
        message: n === 0 ? "discovery needs a source" : "a pool takes members from one discovery source",
        params: { expected: 'exactly one of "consul" or "kubernetes"', found: `${n}` },
      });
    }
  });

const healthCheckSchema = z
  .strictObject({
    path: z.string().startsWith("/", { error: 'expected a path starting with "/"' }),
    interval: period().default(5_000),
    timeout: period().default(1_000),
    healthyThreshold: posInt().default(2),
    unhealthyThreshold: posInt().default(3),
    expectStatus: field(parseStatusRanges).default([{ from: 200, to: 399 }]),
  })
  .check((ctx) => {
    if (ctx.value.timeout > ctx.value.interval) {
      ctx.issues.push({
        code: "custom",
        path: ["timeout"],
        input: ctx.value.timeout,
        message: "timeout must not exceed interval",
        params: {
          expected: `a timeout <= interval (${ctx.value.interval}ms)`,
          found: `${ctx.value.timeout}ms`,
        },
      });
    }
  });

export const RETRY_ON = ["connect-failure", "reset", "timeout", "gateway-error"] as const;
const METHOD = /^[A-Z]+$/;

const retrySchema = z.strictObject({
  /** Total tries including the first: 2 = one retry. */
  attempts: posInt().max(10).default(2),
  methods: z
    .array(
      z
        .string()
        .transform((m) => m.toUpperCase())
        .pipe(z.string().regex(METHOD, { error: "expected an HTTP method" })),
    )
    .default(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]),
  /** Failures that are retried, only ever before any response byte reached the client. */
  on: z.array(z.enum(RETRY_ON)).default(["connect-failure", "reset"]),
  /** Retries may add at most this fraction of requests on top of the first tries... */
  budgetRatio: z.number().min(0).max(1).default(0.2),
  /** ...but this many retries per second are always allowed. */
  minRetriesPerSecond: z.int().min(0).default(10),
});

const breakerSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    consecutiveFailures: posInt().default(5),
    failureRate: z.number().gt(0).max(1).default(0.5),
    window: period().default(10_000),
    minRequests: posInt().default(20),
    openFor: period().default(5_000),
    /** Repeated trips back off exponentially from openFor up to this. */
    maxOpenFor: period().default(60_000),
    halfOpenProbes: posInt().default(3),
    failureStatuses: z.array(z.int().min(100).max(599)).default([502, 503, 504]),
  })
  .check((ctx) => {
    if (ctx.value.maxOpenFor < ctx.value.openFor) {
      ctx.issues.push({
        code: "custom",
        path: ["maxOpenFor"],
        input: ctx.value.maxOpenFor,
        message: "maxOpenFor must be >= openFor",
        params: {
          expected: `a duration >= openFor (${ctx.value.openFor}ms)`,
          found: `${ctx.value.maxOpenFor}ms`,
        },
      });
    }
  });

const passiveEjectionSchema = z.strictObject({
  /** Consecutive failures (connect errors or failureStatuses) seen locally before ejecting. */
  consecutiveFailures: posInt().default(5),
  interval: period().default(10_000),
  baseEjectionTime: duration().default(30_000),
  maxEjectionPercent: z.int().min(0).max(100).default(50),
});

export const ALGORITHMS = ["ring", "maglev"] as const;
export const UPSTREAM_PROTOCOLS = ["http1", "h2c", "h2"] as const;

const MAX_SESSIONS_ERROR = "expected an integer from 1 to 64 (HTTP/2 sessions per member address)";

export const poolSchema = z.strictObject({
  algorithm: z.enum(ALGORITHMS).default("ring"),
  /** Ring hash: virtual nodes per unit of weight. */
  pointsPerWeight: posInt().max(10_000).default(DEFAULT_POINTS_PER_WEIGHT),
  /** Maglev: lookup table size; must be prime. */
  tableSize: z
    .int()
    .min(3)
    .max(MAX_MAGLEV_TABLE_SIZE)
    .refine(isPrime, { error: "expected a prime number (e.g. 65537, 655373)" })
    .default(DEFAULT_MAGLEV_TABLE_SIZE),
  /** Bounded load: cap any member at factor x the mean in-flight load; absent = unbounded. */
  balanceFactor: z.number().min(1).optional(),
  members: z.array(memberSchema).default([]),
  discovery: poolDiscoverySchema.optional(),
  healthCheck: healthCheckSchema.optional(),
  timeouts: z
    .strictObject({
      connect: period().default(1_000),
      response: period().default(30_000),
      /** An upgraded connection (WebSocket) quiet both ways this long is closed (nginx's proxy_read_timeout). */
      tunnelIdle: period().default(60_000),
    })
    .prefault({}),
  retry: retrySchema.prefault({}),
  breaker: breakerSchema.prefault({}),
  passiveEjection: passiveEjectionSchema.optional(),
  /** TLS / mTLS to the members (config/file/upstream-tls-schema.ts); absent = plain HTTP. */
  tls: upstreamTlsSchema(filePath).optional(),
  /**
   * How members are spoken to: HTTP/1.1 (absent = http1), HTTP/2 with prior knowledge (h2c) or
   * HTTP/2 over TLS (h2); gRPC needs h2c or h2. No default value is written, so the settings of
   * existing pools (replicated, compared for drift) stay as they were.
   */
  protocol: z.enum(UPSTREAM_PROTOCOLS).optional(),
  /** h2c/h2 pools: sessions per member address (another opens when all are at their stream limit). */
  http2: z
    .strictObject({
      maxSessions: z
        .int({ error: MAX_SESSIONS_ERROR })
        .min(1, { error: MAX_SESSIONS_ERROR })
        .max(64, { error: MAX_SESSIONS_ERROR })
        .default(8),
    })
    .optional(),
});

// ---------------------------------------------------------------------------------- routes

export const ON_MISSING_KEY = ["random", "reject", "cookie"] as const;
export { SAME_SITE } from "./cookie-schema.js";

const routeCookieSchema = cookieSchema("sg_key");

const routeSchema = z.strictObject({
  match: z
    .strictObject({
      host: field(parseHostMatch).default({ kind: "any" }),
      pathPrefix: z
        .string()
        .startsWith("/", { error: 'expected a path prefix starting with "/"' })
        .default("/"),
    })
    .prefault({}),
  pool: name("pool name"),
  /** Ordered key sources; the first non-empty one is the key. */
  key: z.array(field(parseKeySpec)).min(1),
  onMissingKey: z.enum(ON_MISSING_KEY).default("random"),
  cookie: routeCookieSchema.prefault({}),
  /** Peers whose X-Forwarded-For is believed when the key is "ip". */
  trustedProxies: z.array(field(parseCidr)).default([]),
  /** Edge features (config/edge-schema.ts); each absent = off, at no cost on the request path. */
  affinity: affinitySchema.optional(),
  rateLimit: rateLimitSchema.optional(),
  cache: cacheSchema.optional(),
});

// ------------------------------------------------------------------------- other sections

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const dnsLabel = () => z.string().regex(DNS_LABEL, { error: "expected a DNS label (a-z, 0-9, -)" });

/** See statefulset-peers.ts: voters derived from a StatefulSet instead of listed. */
const statefulSetSchema = z.strictObject({
  name: dnsLabel(),
  service: dnsLabel(),
  namespace: dnsLabel(),
  replicas: z.int().min(1).max(9),
  port: z.int().min(1).max(65535),
  clusterDomain: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
    .optional(),
  /** "" (an unset ${POD_IP}) passes here so the derivation can say what is missing. */
  advertise: z
    .string()
    .refine((v) => v === "" || isIP(v) !== 0 || /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(v), {
      error: "expected this pod's IP or hostname",
    })
    .optional(),
});

const clusterSchema = z
  .strictObject({
    /** Optional in the file: --node-id or SHARDGATE_NODE_ID may give it (one file for a whole fleet). */
    id: name("node id").optional(),
    /** Derive peers and voters from a StatefulSet (exclusive with peers/voters). */
    statefulSet: statefulSetSchema.optional(),
    /** Raft transport listener; defaults to this node's own address in peers; none without peers. */
    listen: listenAddress().optional(),
    peers: z.array(z.strictObject({ id: name("node id"), address: address() })).default([]),
    /** Voting members; default all peers (others join as learners). */
    voters: z.array(name("node id")).optional(),
    /** Shared secret that authenticates Raft traffic; required with more than one peer. */
    secret: z.string().default(""),
    dataDir: filePath().prefault("./data"),
    electionTimeout: period().default(1_000),
    heartbeat: period().default(100),
    /** Enables POST /admin/debug/cut and /heal (transport fault injection, for tests); absent = off. */
    faultInjection: z.boolean().optional(),
    /**
     * "new": an empty data directory founds a new cluster (founding voters only, first start).
     * "join" (default with other peers): an empty data directory never founds anything; it
     * asks the peers to admit it. See README "What survives what".
     */
    bootstrap: z.enum(["new", "join"]).optional(),
    /** A joining instance that no member admitted within this time exits with the reason. */
    joinTimeout: period().default(60_000),
  })
  .check((ctx) => {
    if (ctx.value.heartbeat * 2 > ctx.value.electionTimeout) {
      ctx.issues.push({
        code: "custom",
        path: ["heartbeat"],
        input: ctx.value.heartbeat,
        message: "heartbeat must be at most half of electionTimeout",
        params: {
          expected: `<= ${ctx.value.electionTimeout / 2}ms (electionTimeout / 2)`,
          found: `${ctx.value.heartbeat}ms`,
        },
      });
    }
  })
  .check((ctx) => {
    const c = ctx.value;
    if (c.statefulSet === undefined) return;
    if (c.peers.length > 0 || c.voters !== undefined) {
      ctx.issues.push({
        code: "custom",
        path: ["statefulSet"],
        input: c.statefulSet,
        message: "statefulSet derives peers and voters; do not list them as well",
        params: { expected: "statefulSet, or peers (+ voters)", found: "both" },
      });
      return;
    }
    if (c.id === undefined) {
      ctx.issues.push({
        code: "custom",
        path: ["id"],
        input: c.id,
        message: "statefulSet needs this pod's name as the node id (id: $HOSTNAME from the environment)",
        params: { expected: "this pod's name", found: "nothing" },
      });
      return;
    }
    const d = deriveStatefulSetPeers(c.statefulSet, c.id, c.listen);
    if (typeof d === "string") {
      ctx.issues.push({
        code: "custom",
        path: ["statefulSet", "advertise"],
        input: c.statefulSet.advertise,
        message: d,
        params: { expected: "this pod's IP (downward API status.podIP)", found: "nothing" },
      });
    }
  })
  .transform((c) => {
    if (c.statefulSet !== undefined && c.id !== undefined) {
      const d = deriveStatefulSetPeers(c.statefulSet, c.id, c.listen);
      if (typeof d !== "string") return { ...c, peers: d.peers, voters: d.voters, listen: d.listen };
    }
    const self = c.id === undefined ? undefined : c.peers.find((p) => p.id === c.id);
    return {
      ...c,
      // No peers and no listen: a single node that nobody else can join needs no listener
      // (and no default port that could collide with another instance's admin port).
      listen: c.listen ?? self?.address ?? null,
      // Without peers the single voter is this node (the file's id, or the --node-id /
      // SHARDGATE_NODE_ID one, which cluster-settings.ts puts in when the file has none).
      voters: c.voters ?? (c.peers.length > 0 ? c.peers.map((p) => p.id) : c.id !== undefined ? [c.id] : []),
    };
  });

/** `discovery.debounce`: the leader's quiet time after a discovery change before it proposes. */
export const DEFAULT_DISCOVERY_DEBOUNCE_MS = 200;
export const MAX_DISCOVERY_DEBOUNCE_MS = 60_000;

export const consulAgentSchema = z.strictObject({
  address: z
    .url({ protocol: /^https?$/, error: "expected an http(s) URL like http://127.0.0.1:8500" })
    .default("http://127.0.0.1:8500"),
  token: z.string().default(""),
  datacenter: nonEmpty().optional(),
  /** Blocking-query wait time. */
  wait: duration().default(30_000),
  /** Max Consul requests per second per watched service (a token bucket, burst 4). */
  rateLimit: z.number().positive().default(2),
});

/** The parts of the config that are replicated through the cluster state. */
export const routingSchema = z.strictObject({
  // The table check sits on the record, not on poolSchema, whose .omit() other modules use
  // (zod refuses .omit() on a refined object).
  pools: z.record(name("pool name"), poolSchema).check((ctx) => {
    for (const [pool, p] of Object.entries(ctx.value)) {
      const error = tableLimitError(p, p.members);
      if (error === undefined) continue;
      ctx.issues.push({
        code: "custom",
        path: [pool, "members"],
        input: p.members,
        message: error.problem,
        params: { expected: error.expected, found: error.found },
      });
    }
  }),
  routes: z.array(routeSchema).min(1),
});

export const configSchema = z.strictObject({
  listen: listenSchema.prefault({}),
  admin: z
    .strictObject({
      // A bearer token is one token (RFC 6750): whitespace could never be presented, so it could never match.
      token: z
        .string()
        .regex(/^\S*$/, {
          error: "expected a token without whitespace (it could never match a bearer token)",
        })
        // A one-character token guards the drain, breaker and reload endpoints in name only:
        // the same floor as cluster.secret. The error gives the length, never the token.
        .superRefine((token, ctx) => {
          const bytes = Buffer.byteLength(token, "utf8");
          if (bytes === 0 || bytes >= MIN_ADMIN_TOKEN_BYTES) return;
          ctx.addIssue({
            code: "custom",
            message: "admin token too short",
            input: token,
            params: {
              expected: `a token of at least ${MIN_ADMIN_TOKEN_BYTES} bytes (e.g. openssl rand -hex 16), or "" to disable the mutating admin endpoints`,
              found: `${bytes} byte${bytes === 1 ? "" : "s"}`,
            },
          });
        })
        .default(""),
      /** Admin URLs of the other instances, for the dashboard's fleet view (read-only GETs). */
      fleet: z
        .array(
          z
            .string()
            .regex(/^https?:\/\/[^/\s]+$/, "an admin URL like http://10.0.0.2:9901")
            // The shape alone let `http://10.0.0.2:99999` through, a neighbour never asked.
            .refine((u) => URL.canParse(u), {
              error:
                "expected an admin URL like http://10.0.0.2:9901 (a port is 1-65535, an IPv6 address in brackets)",
            }),
        )
        .default([]),
      /**
       * Host names the admin server answers besides addresses, dotless names, localhost, the
       * machine's name, the listen host and admin.fleet's hosts: "name", "*.suffix", or "*" for
       * any (README "Admin API": DNS rebinding). Others are 421 host_not_allowed.
       */
      allowedHosts: z
        .array(
          z
            .string()
            .regex(/^(\*|(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252}))$/, "a host name, *.suffix, or *"),
        )
        .max(1000)
        .optional(),
      /** Open admin connections; at the cap the oldest idle one is closed, else 503 too_many_connections. */
      maxConnections: posInt().max(100_000).default(64),
      /** A request body over this is refused 413 body_too_large and its connection closed. */
      maxBodySize: field(adminBodySize).default(64 * 1024),
      /** The admin port's own timeouts; each absent one is listen.timeouts' value. */
      timeouts: z
        .strictObject({
          request: duration().optional(),
          headers: duration().optional(),
          idle: duration().optional(),
          keepAlive: duration().optional(),
        })
        .prefault({}),
    })
    .prefault({}),
  log: z
    .strictObject({ level: z.enum(LOG_LEVELS).default("info"), accessLog: z.boolean().default(true) })
    .prefault({}),
  /** What /metrics exports (README "Metrics": member histograms). */
  metrics: z
    .strictObject({
      /** Per-member latency histograms: "auto" = only in pools of up to 500 members. */
      memberHistograms: z.enum(["auto", "on", "off"]).default("auto"),
    })
    .prefault({}),
  /** Overload protection (README "Memory overload"): shed load before the process is killed. */
  limits: z
    .strictObject({
      /**
       * Memory this process may use (resident set); absent = the cgroup's memory.max when one
       * is set, else V8's heap limit (proxy/server/memory-limit.ts). V8's heap is watched too.
       */
      memory: size().optional(),
      /** Fraction of it past which new requests are shed 503 overloaded and idle keep-alives closed. */
      shedAt: z.number().gt(0).lt(1).default(0.85),
      /** Fraction past which new connections are refused as well. */
      refuseAt: z.number().gt(0).lte(1).default(0.95),
    })
    .check((ctx) => {
      if (ctx.value.refuseAt < ctx.value.shedAt) {
        ctx.issues.push({
          code: "custom",
          path: ["refuseAt"],
          input: ctx.value.refuseAt,
          message: "refuseAt must not be below shedAt",
          params: { expected: `a fraction >= shedAt (${ctx.value.shedAt})`, found: `${ctx.value.refuseAt}` },
        });
      }
      if (ctx.value.memory !== undefined && ctx.value.memory < 16 * 1024 * 1024) {
        ctx.issues.push({
          code: "custom",
          path: ["memory"],
          input: ctx.value.memory,
          message: "limits.memory is below what a Node process needs to start",
          params: { expected: "at least 16mb", found: `${ctx.value.memory} bytes` },
        });
      }
    })
    .prefault({}),
  pools: routingSchema.shape.pools,
  routes: routingSchema.shape.routes,
  headers: z
    .strictObject({ memberHeader: headerName().optional(), ringVersionHeader: headerName().optional() })
    .prefault({}),
  /** OpenTelemetry spans over OTLP/HTTP and W3C traceparent per upstream attempt; off by default. */
  tracing: z
    .strictObject({
      enabled: z.boolean().default(false),
      // Parsed as a URL here: the exporter parses it only when tracing starts, and a URL that
      // matched the shape but was none (`http://127.0.0.1:99999/...`, `http://[::1/...`)
      // passed validate and killed start with the exporter's stack trace
      // (test/outside/config-urls-parsed.test.ts).
      otlpEndpoint: z
        .url({
          protocol: /^https?$/,
          error: "expected an OTLP/HTTP traces URL like http://127.0.0.1:4318/v1/traces",
        })
        .default("http://127.0.0.1:4318/v1/traces"),
      serviceName: z.string().min(1).default("shardgate"),
      sampleRatio: z.number().min(0).max(1).default(1),
    })
    .prefault({}),
  cluster: clusterSchema.optional(),
  discovery: z
    .strictObject({
      consul: consulAgentSchema.prefault({}),
      /**
       * Quiet time after the last discovery change (Consul or Kubernetes) before the leader
       * proposes the new member set: a burst of changes becomes one command; 0 proposes each
       * change as it arrives.
       */
      debounce: field((v) => parseDuration(v, MAX_DISCOVERY_DEBOUNCE_MS)).default(
        DEFAULT_DISCOVERY_DEBOUNCE_MS,
      ),
    })
    .prefault({}),
  /** The shared store for affinity, rate limits and the response cache; absent = none. */
  redis: redisSchema.optional(),
  /**
   * Data-plane processes sharing the listening socket (node:cluster): a number, or "auto" for
   * one per available core. 1 (the default) is a single process, as before.
   */
  workers: z
    .union([z.literal("auto"), z.number().int().min(1).max(256)], {
      error: 'expected a whole number of workers from 1 to 256, or "auto"',
    })
    .default(1),
});

/** The normalized config: every default filled in, every unit converted. */
export type ShardgateConfig = z.output<typeof configSchema>;
/** The config as written (before defaults and normalization); useful for tests and tooling. */
export type ShardgateConfigInput = z.input<typeof configSchema>;
export type RoutingConfig = z.output<typeof routingSchema>;
export type ListenConfig = ShardgateConfig["listen"];
export type PoolConfig = z.output<typeof poolSchema>;
export type MemberConfig = z.output<typeof memberSchema>;
export type PoolConsulDiscovery = z.output<typeof poolConsulSchema>;
export type PoolKubernetesDiscovery = z.output<typeof poolKubernetesSchema>;
export type HealthCheckConfig = z.output<typeof healthCheckSchema>;
export type RetryConfig = z.output<typeof retrySchema>;
export type RetryOn = (typeof RETRY_ON)[number];
export type BreakerConfig = z.output<typeof breakerSchema>;
export type PassiveEjectionConfig = z.output<typeof passiveEjectionSchema>;
export type PoolTimeouts = PoolConfig["timeouts"];
export type Algorithm = (typeof ALGORITHMS)[number];
export type RouteConfig = z.output<typeof routeSchema>;
export type CookieConfig = z.output<typeof routeCookieSchema>;
export type OnMissingKey = (typeof ON_MISSING_KEY)[number];
export type ClusterConfig = z.output<typeof clusterSchema>;
export type ConsulAgentConfig = z.output<typeof consulAgentSchema>;
export type LogLevel = (typeof LOG_LEVELS)[number];
