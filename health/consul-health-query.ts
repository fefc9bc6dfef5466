// One blocking GET /v1/health/service/:name over undici, its body streamed chunk by chunk into
// the watcher's ConsulAnswerCache instead of being concatenated first (at 3,000 instances the
// answer is ~1.5 MB, resent whole on every change). The `consul` npm client cannot hand out
// the body as it arrives (papi buffers and concatenates it), so this request is made directly,
// with the client's semantics: the same path and query (index, wait, dc, tag, filter), the
// ACL token in X-Consul-Token, http or https with Node's default TLS trust, an absolute
// timeout, any non-2xx status an error carrying Consul's message. Index rules stay in the watcher.

import { Client } from "undici";
import type { ConsulAnswerCache } from "./consul-answer-cache.js";

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

function queryString(q: HealthQuery): string {
  let s = `?index=${encodeURIComponent(q.index)}&wait=${q.waitMs}ms`;
  if (q.datacenter) s += `&dc=${encodeURIComponent(q.datacenter)}`;
  for (const t of q.tags) s += `&tag=${encodeURIComponent(t)}`;
  if (q.filter) s += `&filter=${encodeURIComponent(q.filter)}`;
  return s;
}

/** The connection to one Consul agent a watcher keeps (keep-alive, one request at a time). */
export class ConsulHealthClient {
  private readonly client: Client;
  private readonly token: string;
  private readonly timeoutMs: number;
  /** The request in flight's controller (a fresh one per request: no listener piles up). */
  private inFlight: AbortController | undefined;

  /** `address` is the schema-checked agent URL (http or https). */
  constructor(address: string, token: string, timeoutMs: number) {
    this.client = new Client(new URL(address).origin, {
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      pipelining: 1,
    });
    this.token = token;
    this.timeoutMs = timeoutMs;
  }

  /** One query. Rejects on transport errors, timeouts, abort(), non-2xx and bad JSON. */
  async query(q: HealthQuery, answers: ConsulAnswerCache): Promise<HealthAnswer> {
    const path = `/v1/health/service/${encodeURIComponent(q.service)}`;
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers["x-consul-token"] = this.token;
    const ac = new AbortController();
    this.inFlight = ac;
    // headersTimeout/bodyTimeout bound the silences; this bounds the whole request.
    const timer = setTimeout(
      () => ac.abort(new Error(`consul health query timed out after ${this.timeoutMs} ms`)),
      this.timeoutMs,
    );
    try {
      const res = await this.client.request({
        method: "GET",
        path: path + queryString(q),
        headers,
        signal: ac.signal,
      });
      if (res.statusCode < 200 || res.statusCode > 299) {
        const text = (await res.body.text()).trim();
        throw new ConsulHttpError(res.statusCode, path, text.slice(0, ERROR_TEXT_MAX));
      }
      const reader = answers.reader();
      for await (const chunk of res.body) reader.push(chunk as Buffer);
      return { index: res.headers["x-consul-index"], body: reader.end() };
    } finally {
      clearTimeout(timer);
      if (this.inFlight === ac) this.inFlight = undefined;
    }
  }

  /** Aborts the request in flight, if any (the watcher's stop()). */
  abort(): void {
    this.inFlight?.abort(new Error("consul health query aborted"));
  }

  close(): Promise<void> {
    return this.client.destroy();
  }
}
