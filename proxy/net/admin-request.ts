// One HTTP exchange with an admin port, for the callers that ask one from outside the browser:
// `shardgate ctl`, the dashboard's fleet view and the demo's wait for its fleet. fetch() is not
// used for them: it refuses, without connecting, every port the WHATWG fetch standard calls a
// "bad port" (the browsers' list: 6000, 6665-6669, 10080, 5060, 2049, ... about 80 of them),
// failing with the two words "bad port". An admin port on one of them answered curl while
// `ctl --admin http://127.0.0.1:6000 status` said it could not be reached, a neighbour there
// was shown unreachable in the fleet view, and `demo --admin-port 6665` waited 30 s for a
// leader its fleet had elected in one (test/outside/admin-fetch-bad-ports.test.ts). undici's
// request() has no such list; it rejects with the connection's own error (its `code` on the
// error itself, not on a `cause`) and, on an abort, with the signal's reason.

import { type Dispatcher, request } from "undici";

export interface AdminExchange {
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  signal: AbortSignal;
  /** Connections of the caller's own (the fleet view's bounded lookup); absent = undici's global one. */
  dispatcher?: Dispatcher;
}

/** Sends one request to `url`; the caller reads or dumps the body, which frees the connection. */
export function adminRequest(url: string, o: AdminExchange): Promise<Dispatcher.ResponseData> {
  return request(url, {
    method: o.method ?? "GET",
    headers: o.headers,
    body: o.body,
    signal: o.signal,
    dispatcher: o.dispatcher,
  });
}

/** The value of response header `name` (lower case), its first line if it came on several; null when absent. */
export function headerValue(headers: Dispatcher.ResponseData["headers"], name: string): string | null {
  const v = headers[name];
  if (v === undefined) return null;
  return Array.isArray(v) ? (v[0] ?? null) : v;
}
