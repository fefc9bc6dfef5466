// The HTTP side of `shardgate ctl`: one call to an instance's admin API, with every failure
// turned into one clear sentence: the instance is unreachable (and why), the token was
// missing or wrong, or the action was refused (with the API's coded reason and, for a
// membership change sent to a follower, where the leader is).

import type { Dispatcher } from "undici";
import { CodedError } from "../../config/coded-error.js";
import { firstAnswer } from "../net/admin-by-address.js";
import { adminRequest, headerValue } from "../net/admin-request.js";
import { AdminLookupError, adminTargets } from "./admin-addresses.js";

export interface CallResult {
  status: number;
  body: unknown;
  text: string;
  /** The answer carries x-request-id: it went through a shardgate proxy port. */
  proxied?: boolean;
}

/**
 * A failed ctl call. `code` is the admin API's own error code when it answered (carried
 * unchanged: `unknown_pool`, `not_committed`, ...), `unauthorized` for a refused token,
 * `http_NNN` for an answer without one, and `unreachable` when it did not answer at all.
 */
export class CtlError extends CodedError {}

export class AdminClient {
  constructor(
    readonly base: string,
    private readonly token: string,
    private readonly timeoutMs = 15_000,
  ) {}

  async call(method: "GET" | "POST", path: string, json?: unknown): Promise<CallResult> {
    const headers: Record<string, string> = {};
    if (this.token !== "") headers.authorization = `Bearer ${this.token}`;
    if (json !== undefined) headers["content-type"] = "application/json";
    let res: Dispatcher.ResponseData | undefined;
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      // A plain-HTTP name is asked at each address it resolves to (admin-addresses.ts), so the
      // admin port's Host check answers without the name in admin.allowedHosts.
      const targets = await adminTargets(this.base, signal);
      res = await firstAnswer(targets, (target) =>
        adminRequest(`${target}${path}`, {
          method,
          headers,
          body: json === undefined ? undefined : JSON.stringify(json),
          signal,
        }),
      );
    } catch (err) {
      throw new CtlError("unreachable", `cannot reach the admin API at ${this.base}: ${this.why(err)}`);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw new CtlError("unreachable", `cannot reach the admin API at ${this.base}: ${this.why(err)}`);
    }
    const status = res.statusCode;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    // A request line or head too long for the server (414 uri_too_long, 431 headers_too_large)
    // is refused by its HTTP parser before any endpoint sees it, with the request id that
    // otherwise marks a proxy port: `ctl route POOL <a 20 KB key>` at the admin port was told
    // "is not a shardgate admin API ... check --admin", and printed the whole 20 KB path.
    if (status === 414 || status === 431)
      throw new CtlError(
        "request_too_long",
        `${this.base} refused ${method} ${shortPath(path)} as too long (${status} ${refusalCode({ status, body, text })}): the request was ${Buffer.byteLength(path)} bytes`,
      );
    // Every admin answer ctl reads is a JSON object. A 2xx that is not one comes from something
    // else at that address (another web server): printing it, or reading a drain's fields off
    // it as undefined, exited 0 as if the action had been done.
    if (status >= 200 && status < 300 && (typeof body !== "object" || body === null)) {
      const type = headerValue(res.headers, "content-type") ?? "no content-type";
      throw new CtlError(
        "not_admin_api",
        `${this.base} is not a shardgate admin API: ${method} ${shortPath(path)} answered ${status} (${type}) without a JSON object; check --admin`,
      );
    }
    // shardgate's proxy port (--admin http://127.0.0.1:8080 for :9901) answers an admin path
    // with its own coded error, which ctl printed as the admin API refusing the action
    // ("refused (upstream_connect_failed)"). Its error answers carry the request id in the
    // header and the body; the admin API's never do.
    const requestId = headerValue(res.headers, "x-request-id");
    if (
      status >= 300 &&
      requestId !== null &&
      (body as { requestId?: unknown } | null)?.requestId === requestId
    )
      throw new CtlError(
        "not_admin_api",
        `${this.base} is not a shardgate admin API: ${method} ${shortPath(path)} answered ${status} (${refusalCode({ status, body, text })})${PROXY_PORT}`,
      );
    // The admin API never redirects. fetch() followed a redirect (an ingress sending http:// on
    // to https://, carrying the request elsewhere); undici's request() does not, and the
    // redirect was printed as the admin API refusing the action ("refused (http_308):
    // <html>..."). Following it is not wanted either: the token would go along to wherever it
    // points.
    if (status >= 300 && status < 400) {
      const to = headerValue(res.headers, "location");
      throw new CtlError(
        "not_admin_api",
        `${this.base} is not a shardgate admin API: ${method} ${shortPath(path)} answered ${status}, a redirect${to === null ? "" : ` to ${shortPath(to)}`}, which ctl does not follow (the token would go along); give the admin port's own address as --admin`,
      );
    }
    return { status, body, text, proxied: requestId !== null };
  }

  /** Why a call got no answer: the timeout, the lookup, or the connection's error code. */
  private why(err: unknown): string {
    if ((err as Error).name === "TimeoutError") return `no answer within ${this.timeoutMs} ms`;
    if (err instanceof AdminLookupError) return err.message;
    const e = err as { code?: unknown; message?: string; errors?: Array<{ code?: string }> };
    return (typeof e.code === "string" ? e.code : undefined) ?? e.errors?.[0]?.code ?? String(e.message);
  }

  /**
   * Like call(), but a non-2xx answer throws a CtlError that says what went wrong, and a 2xx
   * must hold `keys`, the fields the command reads: any JSON object was taken, so through the
   * proxy port an upstream's JSON made `drain` print "not draining (ring version undefined)"
   * and exit 0, and `status`, `route`, `reload` die of a TypeError.
   */
  async ok(method: "GET" | "POST", path: string, keys: readonly string[], json?: unknown): Promise<unknown> {
    const r = await this.call(method, path, json);
    if (r.status >= 200 && r.status < 300) return this.shaped(method, path, r, keys);
    throw new CtlError(refusalCode(r), refusal(r, this.token !== ""));
  }

  /** `r.body` when it is an object holding every one of `keys`, else a not_admin_api CtlError. */
  shaped(method: string, path: string, r: CallResult, keys: readonly string[]): unknown {
    const missing = keys.filter((k) => !Object.hasOwn(r.body as object, k));
    if (missing.length === 0) return r.body;
    throw new CtlError(
      "not_admin_api",
      `${this.base} is not a shardgate admin API: ${method} ${shortPath(path)} answered ${r.status} without ${missing.map((k) => `"${k}"`).join(", ")}${r.proxied ? PROXY_PORT : "; check --admin"}`,
    );
  }
}

/** Paths longer than this are cut in messages (a route path carries every key of a batch). */
const SHOWN_PATH_CHARS = 120;

/** `path` as a message shows it: at most SHOWN_PATH_CHARS, then how much was left out. */
export function shortPath(path: string): string {
  if (path.length <= SHOWN_PATH_CHARS) return path;
  return `${path.slice(0, SHOWN_PATH_CHARS)}... (${path.length - SHOWN_PATH_CHARS} more characters)`;
}

const PROXY_PORT =
  "; it answers as a shardgate proxy port does (x-request-id): the admin API listens on listen.admin (default 127.0.0.1:9901), check --admin";

/** The code of a refused admin call: the API's `error`, else `unauthorized` / `http_NNN`. */
export function refusalCode(r: CallResult): string {
  const error = (r.body as { error?: unknown } | null | undefined)?.error;
  if (typeof error === "string" && error !== "") return error;
  return r.status === 401 ? "unauthorized" : `http_${r.status}`;
}

/** One sentence for a refused admin call. */
export function refusal(r: CallResult, sentToken: boolean): string {
  const b = (typeof r.body === "object" && r.body !== null ? r.body : {}) as {
    error?: string;
    message?: string;
    detail?: { leader?: string };
  };
  const code = b.error ?? `http_${r.status}`;
  if (r.status === 401)
    return sentToken
      ? "the admin token was refused (unauthorized): check SHARDGATE_ADMIN_TOKEN / --token"
      : "this action needs the admin token: set SHARDGATE_ADMIN_TOKEN or pass --token (unauthorized)";
  if (code === "admin_disabled") return `refused (admin_disabled): ${b.message ?? ""}`;
  const leader = b.detail?.leader ? ` [leader: ${b.detail.leader}]` : "";
  return `refused (${code}): ${b.message ?? r.text.trim()}${leader}`;
}
