// A keep-alive HTTP/1.1 client for the fleet tests: JSON requests to the instances' admin APIs
// and keyed GETs through their proxy listeners. One shared agent, so tens of thousands of
// /admin/route calls reuse a handful of connections instead of opening one each.

import { Agent, type IncomingHttpHeaders, request } from "node:http";

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
  timeoutMs?: number;
  /** Use a fresh connection (no keep-alive), e.g. towards an instance that is about to die. */
  fresh?: boolean;
}

/** One request; rejects on transport errors (refused, reset, timeout), resolves on any status. */
export function httpRequest(url: string, opts: RequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { ...opts.headers };
    let payload: string | undefined;
    if (opts.json !== undefined) {
      payload = JSON.stringify(opts.json);
      headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(payload));
    }
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method: opts.method ?? (payload === undefined ? "GET" : "POST"),
        headers,
        agent: opts.fresh ? false : agent,
      },
      (res) => {
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
    const timeoutMs = opts.timeoutMs ?? 10_000;
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${url}: no answer within ${timeoutMs}ms`)));
    req.on("error", reject);
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
