// A keep-alive HTTP/1.1 client for the fleet tests: JSON requests to the instances' admin APIs
// and keyed GETs through their proxy listeners. One shared agent, so tens of thousands of
// /admin/route calls reuse a handful of connections instead of opening one each.

import { Agent, type IncomingHttpHeaders, request } from "node:http";
import { scaled } from "../wait.js";

const agent = new Agent({ keepAlive: true, maxSockets: 32, keepAliveMsecs: 1000 });

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  body: unknown;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  /** No answer within this (times TEST_TIME_SCALE) rejects; default 10 s. */
  timeoutMs?: number;
  /** Use a fresh connection (no keep-alive), e.g. towards an instance that is about to die. */
  fresh?: boolean;
}

/**
 * One request; rejects on transport errors (refused, reset, timeout), resolves on any status.
 * An idempotent request (GET/HEAD, no body) that fails on a reused keep-alive connection before
 * any answer is sent once more on a fresh one, as RFC 9112 section 9.3.1 lets clients do: the
 * server may close an idle connection just as the agent picks it (its keep-alive timeout), and
 * that race is not a failure of the instance. Any other request (a POST: cut, heal, drain ...)
 * must not be sent twice, so it never rides a reused connection: it opens its own. The agent
 * drops an idle socket 1 s before the server's announced keep-alive timeout, but a test process
 * starved of CPU runs the callback that sends the next request (a child's exit) before that
 * timer, and a POST on the socket the server had just closed failed with "socket hang up"
 * (test/e2e/ctl.test.ts, the heal after a 5 s refused drain, under load).
 */
export async function httpRequest(url: string, opts: RequestOptions = {}): Promise<HttpResult> {
  try {
    return await requestOnce(url, opts);
  } catch (err) {
    if (!(err instanceof StaleConnectionError)) throw err;
    return requestOnce(url, { ...opts, fresh: true });
  }
}

/** A reused keep-alive connection closed by the server before it answered (retry-safe). */
class StaleConnectionError extends Error {}

function requestOnce(url: string, opts: RequestOptions): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { ...opts.headers };
    let payload: string | undefined;
    if (opts.json !== undefined) {
      payload = JSON.stringify(opts.json);
      headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(payload));
    }
    const method = (opts.method ?? (payload === undefined ? "GET" : "POST")).toUpperCase();
    const idempotent = payload === undefined && (method === "GET" || method === "HEAD");
    let gotResponse = false;
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method,
        headers,
        agent: opts.fresh || !idempotent ? false : agent,
      },
      (res) => {
        gotResponse = true;
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => {
          let body: unknown;
          try {
            body = text === "" ? undefined : JSON.parse(text);
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
        });
        res.on("error", reject);
      },
    );
    // A base deadline like every wait's (wait.ts): TEST_TIME_SCALE=3 on a slow machine gives the
    // instances three times as long to answer. It was used as given, so no scale could stop
    // "no answer within 5000ms" from a starved instance (kubernetes-discovery at load 40).
    const timeoutMs = scaled(opts.timeoutMs ?? 10_000);
    let timedOut = false;
    // An idle timeout on the socket. A client starved of CPU runs its expired timers before it
    // reads what arrived meanwhile (the loop's timers phase comes before its poll phase), so an
    // answer sitting unread in the socket was taken for an instance's silence. Look once more
    // after the poll phase (setImmediate): bytes read since the timer fired are an answer, and
    // that activity re-arms the socket's idle timer, which still bounds a stall after it.
    req.setTimeout(timeoutMs, () => {
      const readBefore = req.socket?.bytesRead ?? 0;
      setImmediate(() => {
        if ((req.socket?.bytesRead ?? 0) > readBefore || req.destroyed) return;
        timedOut = true;
        req.destroy(new Error(`${url}: no answer within ${timeoutMs}ms`));
      });
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      const closedUnderUs = err.code === "ECONNRESET" || err.message === "socket hang up";
      if (idempotent && req.reusedSocket && !timedOut && closedUnderUs && !gotResponse)
        reject(new StaleConnectionError(`${url}: reused connection closed before an answer: ${err.message}`));
      else reject(err);
    });
    req.end(payload);
  });
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
