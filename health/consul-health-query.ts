// One blocking GET /v1/health/service/:name through the `consul` client (the product's Consul
// client by design), its body streamed chunk by chunk into the watcher's ConsulAnswerCache
// instead of being concatenated first (at 3,000 instances the answer is ~1.5 MB, resent whole
// on every change). consul's health.service() lets papi, its HTTP base class, buffer and
// concat the body; papi's `pipe` request option does not: the response is piped into a
// Writable and never collected. health.service() does not pass `pipe` through, so this calls
// the client's papi request method itself with what health.service() would send: the same path
// and query (index, wait, dc, tag, filter), the ACL token in X-Consul-Token, a keep-alive
// agent like the client's own (http, or https with Node's default trust) but resolving the
// agent's hostname through the lookup passed in (the process's bounded one: a DNS server that
// hangs must not hold libuv's threads, test/outside/dns-dependencies.test.ts), papi's timeout
// (idle and absolute) and its ctx cancellation. With `pipe` papi's error for a non-2xx answer has only
// the status text, so the sink keeps the first bytes of such a body for Consul's message.
// Index rules stay in the watcher. The `consul` module is loaded by the first query (and at
// start when a pool uses Consul, loadConsul): a process without Consul discovery never loads it.

import { EventEmitter } from "node:events";
import { Agent as HttpAgent, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { createRequire } from "node:module";
import type { LookupFunction } from "node:net";
import { Writable } from "node:stream";
import type Consul from "consul";
import { codeOf } from "../config/coded-error.js";
import type { AnswerReader, ConsulAnswerCache } from "./consul-answer-cache.js";

export interface HealthQuery {
  readonly service: string;
  /** Sent as given ("0" = answer at once). */
  readonly index: string;
  readonly waitMs: number;
  readonly datacenter: string | undefined;
  readonly tags: readonly string[];
  readonly filter: string | undefined;
}

export interface HealthAnswer {
  /** The X-Consul-Index header as sent. */
  readonly index: string | string[] | undefined;
  /** The decoded body (JSON.parse's value; unchanged entries are the last answer's objects). */
  readonly body: unknown;
  /**
   * performance.now() when the answer's head arrived: when Consul told us. Reading a 2.7 MB
   * body and decoding it take a while, and the controller's debounce counts from here.
   */
  readonly receivedAt: number;
}

/** A non-2xx answer: Consul's own text (`No path to datacenter`, `ACL not found`) is the message. */
export class ConsulHttpError extends Error {
  readonly status: number;
  constructor(status: number, path: string, text: string) {
    super(`HTTP ${status} from ${path}${text === "" ? "" : `: ${text}`}`);
    this.name = "ConsulHttpError";
    this.status = status;
  }
}

/** Consul's error bodies are one line of text; more is not worth keeping in a status. */
const ERROR_TEXT_MAX = 200;
/**
 * The largest answer read: ~900 bytes per instance makes this ~35,000 instances, 3.5x the
 * largest pool measured (README "Scale"). Anything bigger (a misconfigured service, a proxy in
 * front of Consul streaming garbage) is refused as it arrives, before it is held in memory, and
 * the last member view stays.
 */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;
/** The bytes of a non-2xx body kept for that text (the rest is drained, not stored). */
const ERROR_BODY_MAX = 1024;
/**
 * The sink consumes each chunk synchronously, so nothing queues in it; a mark above the
 * socket's read size keeps write() from returning false and pausing the response per chunk.
 */
const SINK_HIGH_WATER_MARK = 1 << 20;

/** papi's request method (papi README, `client._request`), which consul's types do not declare. */
interface PapiRequest {
  path: string;
  params: Record<string, string>;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
  pipe: Writable;
  timeout: number;
  ctx: EventEmitter;
}
interface PapiClient {
  _get(request: PapiRequest): Promise<IncomingMessage>;
}

/**
 * Where papi pipes the response. papi emits `pipe` with the response before the first chunk:
 * a 2xx body goes to the answer's reader, any other is kept (bounded) for the error message.
 */
class AnswerSink extends Writable {
  res: IncomingMessage | undefined;
  /** performance.now() when papi handed over the response (its head had arrived). */
  receivedAt = 0;
  /** Set when the connection closed before the body was complete. */
  cutAfter: number | undefined;
  /** Set when the body passed MAX_ANSWER_BYTES (the request is cancelled there). */
  tooLarge = false;
  private received = 0;
  private readonly errorBody: Buffer[] = [];
  private errorBytes = 0;

  constructor(
    private readonly reader: AnswerReader,
    /** Cancels the request (papi's ctx), so a cut answer fails at once, not at the timeout. */
    private readonly cancel: () => void,
  ) {
    super({ highWaterMark: SINK_HIGH_WATER_MARK });
    this.once("pipe", (src: IncomingMessage) => {
      this.receivedAt = performance.now();
      this.res = src;
      // A body cut off mid-way neither ends nor errors the piped response: papi would wait
      // for its timeout. A close before `complete` is that cut.
      src.once("close", () => {
        if (!src.complete && !this.tooLarge) {
          this.cutAfter = this.received;
          this.cancel();
        }
      });
    });
  }

  get ok(): boolean {
    const status = this.res?.statusCode ?? 0;
    return status >= 200 && status <= 299;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.received += chunk.length;
    if (this.tooLarge) {
      done();
      return;
    }
    if (this.received > MAX_ANSWER_BYTES) {
      this.tooLarge = true;
      this.cancel();
    } else if (this.ok) this.reader.push(chunk);
    else if (this.errorBytes < ERROR_BODY_MAX) {
      const part = chunk.subarray(0, ERROR_BODY_MAX - this.errorBytes);
      this.errorBody.push(part);
      this.errorBytes += part.length;
    }
    done();
  }

  errorText(): string {
    return Buffer.concat(this.errorBody, this.errorBytes).toString("utf8").trim().slice(0, ERROR_TEXT_MAX);
  }
}

type ConsulClass = typeof Consul;
type ConsulOptions = ConstructorParameters<ConsulClass>[0];

const requireHere = createRequire(import.meta.url);
/** consul's entry file, resolved by resolveConsul; a bare name until then. */
let consulEntry = "consul";
let consulModule: Promise<ConsulClass> | undefined;

/**
 * Resolves where consul and its one dependency (papi) live, for loadConsul, while descriptors
 * are free (the running instance's start). Node keeps a package.json it could not open as
 * absent for the process's life: a first load at the descriptor limit (EMFILE) said "Cannot
 * find module" then and on every later try. Resolved here, a load reads only the modules' own
 * files, and a read that failed is tried again by the next load. Nothing is evaluated; a
 * failure is left for loadConsul to report.
 */
export function resolveConsul(): void {
  try {
    const entry = requireHere.resolve("consul");
    createRequire(entry).resolve("papi");
    consulEntry = entry;
  } catch {
    // loadConsul resolves again and says why.
  }
}

/**
 * The `consul` client class, loaded once per process (the same promise for every caller). A
 * failed load (EMFILE while a reload adds a Consul pool) is not kept: the next query loads
 * again. It is required, not imported: Node keeps a failed import's error for its URL for the
 * process's life (measured on Node 20: the same EMFILE after the descriptors were free), and
 * drops a failed require from its cache.
 */
export function loadConsul(): Promise<ConsulClass> {
  consulModule ??= new Promise<ConsulClass>((resolve) =>
    resolve(requireHere(consulEntry) as ConsulClass),
  ).catch((err: unknown) => {
    consulModule = undefined;
    throw loadFailure(err);
  });
  return consulModule;
}

/**
 * A failed load in one line that names the package (Node's message goes on with the require
 * stack), with Node's code kept: start tells a descriptor shortage by it (load-failure.ts).
 */
function loadFailure(err: unknown): Error {
  const said = (err instanceof Error ? err.message : String(err)).split("\n", 1)[0];
  const failure = new Error(`the consul client (package consul) could not be loaded: ${said}`, {
    cause: err,
  });
  return Object.assign(failure, { code: codeOf(err) });
}

/** Whether any pool of `pools` discovers its members through Consul (start loads the module then). */
export function usesConsul(pools: Record<string, { discovery?: { consul?: unknown } }>): boolean {
  for (const name in pools) if (pools[name].discovery?.consul !== undefined) return true;
  return false;
}

/** The `consul` client one watcher keeps for one agent (keep-alive, one request at a time). */
export class ConsulHealthClient {
  /** What the client is built with; its keep-alive agent is made here. */
  private readonly options: ConsulOptions;
  /** Built by the first query, once the module is loaded. */
  private consul: Consul | undefined;
  private closed = false;
  /** abort() calls: one during the first query's import cancels that query. */
  private aborts = 0;
  private readonly token: string;
  private readonly timeoutMs: number;
  /** The ctx of the request in flight (a fresh one per request: no listener piles up). */
  private inFlight: EventEmitter | undefined;

  /**
   * `address` is the schema-checked agent URL (http or https); `lookup` resolves its hostname
   * (default: Node's getaddrinfo).
   */
  constructor(address: string, token: string, timeoutMs: number, lookup?: LookupFunction) {
    // A missing port is Consul's default.
    const url = new URL(address);
    const secure = url.protocol === "https:";
    // What consul's own getAgent() makes, plus the lookup; destroy() ends it as it would its own.
    const agentOptions = lookup === undefined ? { keepAlive: true } : { keepAlive: true, lookup };
    this.options = {
      host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port === "" ? (secure ? 443 : 8500) : Number(url.port),
      secure,
      agent: secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions),
    };
    this.token = token;
    this.timeoutMs = timeoutMs;
  }

  /** One query. Rejects on transport errors, timeouts, abort(), non-2xx, a cut body and bad JSON. */
  async query(q: HealthQuery, answers: ConsulAnswerCache): Promise<HealthAnswer> {
    const aborts = this.aborts;
    const consul = this.consul ?? (await this.open());
    // Checked here, after the last await before the send: an abort even one microtask after the
    // import resolved (open()'s return is another tick) must not let a blocking read go out.
    if (this.closed || this.aborts !== aborts) throw new Error("consul query aborted before it was sent");
    const query: Record<string, string | string[]> = { index: q.index, wait: `${q.waitMs}ms` };
    if (q.datacenter) query.dc = q.datacenter;
    if (q.tags.length > 0) query.tag = [...q.tags];
    if (q.filter) query.filter = q.filter;
    const headers: Record<string, string> = {};
    if (this.token) headers["x-consul-token"] = this.token;
    const ctx = new EventEmitter();
    this.inFlight = ctx;
    const reader = answers.reader();
    const sink = new AnswerSink(reader, () => ctx.emit("cancel"));
    try {
      const res = await (consul as unknown as PapiClient)._get({
        path: "/health/service/{service}",
        params: { service: q.service },
        query,
        headers,
        pipe: sink,
        timeout: this.timeoutMs,
        ctx,
      });
      return { index: res.headers["x-consul-index"], body: reader.end(), receivedAt: sink.receivedAt };
    } catch (err) {
      const path = `/v1/health/service/${encodeURIComponent(q.service)}`;
      if (sink.res !== undefined && !sink.ok)
        throw new ConsulHttpError(sink.res.statusCode ?? 0, path, sink.errorText());
      if (sink.tooLarge)
        throw new Error(
          `consul answer from ${path} larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MB: refused, the last member view is kept`,
        );
      if (sink.cutAfter !== undefined)
        throw new Error(`consul answer from ${path} cut off after ${sink.cutAfter} body bytes`);
      throw err;
    } finally {
      if (this.inFlight === ctx) this.inFlight = undefined;
    }
  }

  /**
   * Loads the module (a failure rejects this query: the watcher reports it as any other) and
   * builds the client. A stop during the import must not let the query start a blocking read
   * the watcher's stop() would then wait out: query() checks for one once this returns.
   */
  private async open(): Promise<Consul> {
    let ConsulClient: ConsulClass;
    try {
      ConsulClient = await loadConsul();
    } catch (err) {
      const again = new Error(`${(err as Error).message} (tried again at the next query)`, { cause: err });
      throw Object.assign(again, { code: codeOf(err) });
    }
    this.consul ??= new ConsulClient(this.options);
    return this.consul;
  }

  /** Aborts the request in flight, if any (the watcher's stop()). */
  abort(): void {
    this.aborts++;
    this.inFlight?.emit("cancel");
  }

  close(): Promise<void> {
    this.closed = true;
    this.consul?.destroy();
    return Promise.resolve();
  }
}
