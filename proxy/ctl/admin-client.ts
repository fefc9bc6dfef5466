// The HTTP side of `shardgate ctl`: one call to an instance's admin API, with every failure
// turned into one clear sentence: the instance is unreachable (and why), the token was
// missing or wrong, or the action was refused (with the API's coded reason and, for a
// membership change sent to a follower, where the leader is).

import { CodedError } from "../../config/coded-error.js";

export interface CallResult {
  status: number;
  body: unknown;
  text: string;
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
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const c = (err as { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } })
        .cause;
      const why =
        (err as Error).name === "TimeoutError"
          ? `no answer within ${this.timeoutMs} ms`
          : (c?.code ?? c?.errors?.[0]?.code ?? c?.message ?? (err as Error).message);
      throw new CtlError("unreachable", `cannot reach the admin API at ${this.base}: ${why}`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    // Every admin answer ctl reads is a JSON object. A 2xx that is not one comes from something
    // else at that address (another web server): printing it, or reading a drain's fields off
    // it as undefined, exited 0 as if the action had been done.
    if (res.status >= 200 && res.status < 300 && (typeof body !== "object" || body === null)) {
      const type = res.headers.get("content-type") ?? "no content-type";
      throw new CtlError(
        "not_admin_api",
        `${this.base} is not a shardgate admin API: ${method} ${path} answered ${res.status} (${type}) without a JSON object; check --admin`,
      );
    }
    return { status: res.status, body, text };
  }

  /** Like call(), but a non-2xx answer throws a CtlError that says what went wrong. */
  async ok(method: "GET" | "POST", path: string, json?: unknown): Promise<unknown> {
    const r = await this.call(method, path, json);
    if (r.status >= 200 && r.status < 300) return r.body;
    throw new CtlError(refusalCode(r), refusal(r, this.token !== ""));
  }
}

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
