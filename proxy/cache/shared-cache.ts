// A route's shared response cache in Redis (policy: cache-policy.ts). A GET or HEAD that
// finds a fresh entry is answered from it with `Age` and `X-Cache: HIT` and never reaches an
// upstream; a miss goes upstream (`X-Cache: MISS`), and if the response may be stored its
// body is copied as it streams to the client (up to maxBytes) and written to Redis with a
// TTL of its remaining freshness (capped by maxTtl). Concurrent misses for one URL on this
// instance wait for the first one (coalescer.ts). Redis failing: every request is a miss
// (counted as a store error) and nothing waits longer than the command timeout.

import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from "node:http";
import type { CacheConfig } from "../../config/file/edge-schema.js";
import type { LogSink } from "../../config/log-sink.js";
import type { EdgeRouteMetrics } from "../edge/edge-metrics.js";
import type { EdgeState } from "../edge/edge-state.js";
import { connectionFacts } from "../forward/connection-facts.js";
import { upstreamHeaderView } from "../forward/headers.js";
import type { RequestContext } from "../forward/request-context.js";
import { forwardedScheme } from "../forward/told-scheme.js";
import type { RedisStore } from "../redis/redis-store.js";
import {
  type CacheEntry,
  currentAge,
  decodeEntry,
  decodeVaryMarker,
  encodeEntry,
  encodeVaryMarker,
  isFresh,
} from "./cache-entry.js";
import { CACHE_GET, CACHE_GET_BUFFER, ENTRY_HEAD_ALLOWANCE } from "./cache-get-script.js";
import { baseKey, baseTag, cacheHostText, originPrefix, variantKey } from "./cache-keys.js";
import { isStorable, requestMode, type Storable, storable, varyValues } from "./cache-policy.js";
import { Coalescer, type Fill, waitFill } from "./coalescer.js";
import { notModified } from "./conditional.js";
import { toldOriginHash } from "./told-origin.js";

/** Response headers never stored: per-response or per-connection. */
const NOT_STORED = new Set([
  "x-request-id",
  "age",
  "x-cache",
  "set-cookie",
  "transfer-encoding",
  "content-length",
  "connection",
  "keep-alive",
  "ratelimit-limit",
  "ratelimit-remaining",
  "ratelimit-reset",
  "ratelimit-policy",
]);

export class SharedCache {
  readonly coalescer = new Coalescer();
  /** Fills this instance leads, by request (so the leader's end settles them). */
  private readonly leading = new WeakMap<RequestContext, Fill>();

  /** NOT_STORED plus the configured member and ring-version headers (per response, not per entry). */
  private readonly notStored: ReadonlySet<string>;
  /** Bytes of one stored value read at most (CACHE_GET): maxBytes of body and the entry's head. */
  private readonly readMax: number;
  private warnedLarge = false;
  /** originPrefix of the two schemes nearly every request has, built once: a key is one concatenation. */
  private readonly httpPrefix: string;
  private readonly httpsPrefix: string;

  constructor(
    private readonly cfg: CacheConfig,
    private readonly label: string,
    private readonly store: RedisStore,
    private readonly metrics: EdgeRouteMetrics,
    private readonly logger: LogSink,
    perResponseHeaders: readonly string[] = [],
  ) {
    this.notStored = new Set([...NOT_STORED, ...perResponseHeaders.map((h) => h.toLowerCase())]);
    this.readMax = cfg.maxBytes + ENTRY_HEAD_ALLOWANCE;
    this.httpPrefix = originPrefix(label, "http");
    this.httpsPrefix = originPrefix(label, "https");
    store.defineScript(CACHE_GET);
  }

  /** True when the request was answered from the cache. */
  async serve(ctx: RequestContext, st: EdgeState): Promise<boolean> {
    const req = ctx.req;
    const mode = ctx.hasBody ? "bypass" : requestMode(ctx.method, req.headers);
    if (mode === "bypass") {
      this.metrics.cache.bypass.inc();
      return false;
    }
    // Vary names request headers the upstream saw: this hop's X-Forwarded-For / Forwarded are
    // added only when the request is forwarded (after this lookup), so lookup, coalescing and
    // store all read the one view of the headers as forwarded, taken here.
    const trusted = ctx.compiledRoute?.keyPlan.trusted ?? null;
    const view = upstreamHeaderView(req, trusted, ctx.requestId);
    st.cacheHeaders = view;
    // And forwarded as built here (data-plane prepareHeaders copies its forwarding fields).
    ctx.upstreamView = view;
    const scheme = forwardedScheme(view["x-forwarded-proto"]);
    if (scheme === "") {
      this.metrics.cache.bypass.inc();
      return false;
    }
    const host = req.headers.host;
    const prefix =
      scheme === "http"
        ? this.httpPrefix
        : scheme === "https"
          ? this.httpsPrefix
          : originPrefix(this.label, scheme);
    const fromTrusted = trusted !== null && connectionFacts(req.socket).fromTrusted(trusted);
    const url = req.url ?? "";
    const told = toldOriginHash(view, host, scheme, url, fromTrusted ? req.headers.forwarded : undefined);
    const tag = baseTag(prefix, host === undefined ? "" : cacheHostText(host, scheme), url);
    const key = baseKey(tag, told);
    const auth = req.headers.authorization !== undefined;
    if (mode === "lookup") {
      const entry = await this.lookup(key, view, auth);
      if (entry !== null && !ctx.done) {
        this.answer(ctx, entry);
        this.metrics.cache.hit.inc();
        return true;
      }
    }
    this.metrics.cache.miss.inc();
    st.cacheKey = key;
    if (!this.cfg.coalesce || ctx.method !== "GET" || mode !== "lookup") return false;
    const pending = this.coalescer.pending(key);
    if (pending === undefined) {
      this.lead(ctx, key);
      return false;
    }
    const r = await waitFill(pending, this.cfg.coalesceTimeout);
    if (r === null || ctx.done) return false;
    const head = r.entry.head;
    if ((auth && !head.authOk) || varyValues(head.vary, view) !== r.varyValues) return false;
    this.answer(ctx, r.entry);
    this.metrics.cache.coalesced.inc();
    return true;
  }

  private lead(ctx: RequestContext, key: string): void {
    const fill = this.coalescer.lead(key);
    this.leading.set(ctx, fill);
    // Whatever happens to the leader (error, client gone), its waiters are released.
    ctx.res?.once("close", () => fill.settle(null));
  }

  /** The value at `key` when it is at most this route's entry size; null when absent or larger (logged). */
  private async read(key: string): Promise<Buffer | null> {
    const v = await this.store.script<Buffer | number | null>(CACHE_GET_BUFFER, [key, this.readMax]);
    if (typeof v !== "number") return v;
    this.metrics.storeErrors.cache.inc();
    if (!this.warnedLarge) {
      this.warnedLarge = true;
      this.logger.warn(
        { route: this.label, key, maxBytes: this.readMax },
        "cache entry in redis larger than this route's maxBytes; not read, answered as a miss (warned once)",
      );
    }
    return null;
  }

  private async lookup(key: string, headers: IncomingHttpHeaders, auth: boolean): Promise<CacheEntry | null> {
    try {
      const base = await this.read(key);
      if (base === null) return null;
      const vary = decodeVaryMarker(base);
      const bytes = vary === null ? base : await this.read(variantKey(key, varyValues(vary, headers)));
      if (bytes === null) return null;
      const e = decodeEntry(bytes);
      if (e === null || (auth && !e.head.authOk)) return null;
      return isFresh(e.head, Date.now()) ? e : null;
    } catch {
      this.metrics.storeErrors.cache.inc();
      return null;
    }
  }

  private answer(ctx: RequestContext, entry: CacheEntry): void {
    const res = ctx.res;
    if (res === null || res.headersSent) return;
    const h = entry.head;
    res.statusCode = h.status;
    for (const name in h.headers) {
      const v = h.headers[name];
      if (v !== undefined) res.setHeader(name, v);
    }
    res.setHeader("age", String(currentAge(h, Date.now())));
    res.setHeader("x-cache", "HIT");
    res.setHeader("x-request-id", ctx.requestId);
    // The sticky id a missing key was routed by (onMissingKey: cookie), as a miss's answer carries
    // it: without it the client's next request that the cache does not answer went to a random
    // member, not to the one the ring picks for this id (and every hit handed out no id at all).
    if (ctx.issuedCookie !== "") res.setHeader("set-cookie", ctx.issuedCookie);
    // Preconditions apply to what would be a 2xx answer (RFC 9110 13.2.1).
    if (h.status >= 200 && h.status < 300 && notModified(ctx.req.headers, h.headers)) {
      res.statusCode = 304;
      ctx.status = 304;
      res.end();
      return;
    }
    if (h.status !== 204 && h.status !== 304) res.setHeader("content-length", entry.body.length);
    ctx.status = h.status;
    if (ctx.method === "HEAD") {
      res.end();
      return;
    }
    this.metrics.bytesServed.inc(entry.body.length);
    res.end(entry.body);
  }

  onResponse(ctx: RequestContext, st: EdgeState, proxyRes: IncomingMessage): void {
    if (st.cacheKey === "") return;
    const headers = proxyRes.headers;
    headers["x-cache"] = "MISS";
    const fill = this.leading.get(ctx) ?? null;
    const status = proxyRes.statusCode ?? 0;
    // shardgate's own Set-Cookie lines (added before this hook) are per client and not stored.
    const own = (ctx.issuedCookie === "" ? 0 : 1) + (st.affinityCookieSet ? 1 : 0);
    const s = storable(status, ctx.req.headers, headers, Date.now(), own);
    const cl = headers["content-length"];
    if (!isStorable(s) || ctx.method !== "GET" || (cl !== undefined && Number(cl) > this.cfg.maxBytes)) {
      this.metrics.cache.not_storable.inc();
      fill?.settle(null);
      return;
    }
    const kept: OutgoingHttpHeaders = {};
    for (const name in headers) if (!this.notStored.has(name)) kept[name] = headers[name];
    const values = varyValues(s.vary, st.cacheHeaders ?? ctx.req.headers);
    new BodyCapture(this, st.cacheKey, status, kept, s, values, fill).attach(proxyRes);
  }

  /** Writes a captured response (called by BodyCapture once the body is complete). */
  async write(key: string, entry: CacheEntry, s: Storable, values: string): Promise<void> {
    const ttlMs = Math.min((s.lifetime - s.age) * 1000, this.cfg.maxTtl);
    if (ttlMs <= 0) return;
    const bytes = encodeEntry(entry);
    try {
      if (s.vary.length === 0) {
        await this.store.run((c) => c.set(key, bytes, "PX", ttlMs));
      } else {
        const marker = encodeVaryMarker(s.vary);
        await this.store.run((c) =>
          c
            .multi()
            .set(key, marker, "PX", this.cfg.maxTtl)
            .set(variantKey(key, values), bytes, "PX", ttlMs)
            .exec(),
        );
      }
      this.metrics.cache.stored.inc();
      this.metrics.bytesStored.inc(entry.body.length);
    } catch (err) {
      this.metrics.storeErrors.cache.inc();
      this.logger.debug({ route: this.label, err: (err as Error).message }, "cache write failed");
    }
  }

  get maxBytes(): number {
    return this.cfg.maxBytes;
  }
}

/** Copies a storable response's body as it streams to the client, up to maxBytes. */
class BodyCapture {
  private chunks: Buffer[] | null = [];
  private size = 0;

  constructor(
    private readonly cache: SharedCache,
    private readonly key: string,
    private readonly status: number,
    private readonly headers: OutgoingHttpHeaders,
    private readonly s: Storable,
    private readonly values: string,
    private readonly fill: Fill | null,
  ) {}

  attach(proxyRes: IncomingMessage): void {
    proxyRes.on("data", (chunk: Buffer) => this.onData(chunk));
    proxyRes.on("end", () => this.onEnd(proxyRes.complete));
    proxyRes.on("close", () => this.fill?.settle(null));
  }

  private onData(chunk: Buffer): void {
    if (this.chunks === null) return;
    this.size += chunk.length;
    if (this.size > this.cache.maxBytes) {
      this.chunks = null; // too large: passed through, not stored
      return;
    }
    this.chunks.push(chunk);
  }

  private onEnd(complete: boolean): void {
    if (this.chunks === null || !complete) {
      this.fill?.settle(null);
      return;
    }
    const entry: CacheEntry = {
      head: {
        status: this.status,
        headers: this.headers,
        storedAt: Date.now(),
        age: this.s.age,
        lifetime: this.s.lifetime,
        vary: [...this.s.vary],
        authOk: this.s.authOk,
      },
      body: Buffer.concat(this.chunks, this.size),
    };
    // Waiters are answered from memory at once; Redis is written in the background.
    this.fill?.settle({ entry, varyValues: this.values });
    void this.cache.write(this.key, entry, this.s, this.values);
  }
}
