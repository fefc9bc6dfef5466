// One Kubernetes watch request, read as newline-delimited JSON events with a bound on the bytes
// of one line. The client library's Watch reads the answer with node:readline, which holds a
// line until its newline comes: an API server (or something in between) that sends a line
// without end made the process buffer it without limit, until it ran out of memory. Here a
// line longer than WATCH_LINE_MAX ends the watch with an error (the watcher logs it, backs off
// and watches again); what was held is let go at once.
//
// Why not split2 (which has a maxLength): it appends each chunk to the held string and splits
// the whole of it again, so a long line costs time quadratic in its length, on exactly the
// input this is here to refuse. This scans each chunk once and keeps the pieces by reference.

import * as http from "node:http";
import { STATUS_CODES } from "node:http";
import * as https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

/**
 * Bytes of one watch event line at most. An object etcd stores is at most 1.5 MiB (its default
 * request limit), and its JSON event is a few times that at worst; 16 MiB leaves room.
 */
export const WATCH_LINE_MAX = 16 * 1024 * 1024;

/** A watch line past the limit: the code the watcher's error line carries. */
export class WatchLineTooLong extends Error {
  readonly code = "WATCH_LINE_TOO_LONG";
  constructor(limit: number) {
    super(`watch event line longer than ${String(limit)} bytes without a newline; watch dropped`);
  }
}

/** Splits chunks into lines; throws WatchLineTooLong once a line passes `limit` bytes. */
export class BoundedLines {
  private pieces: Buffer[] = [];
  private held = 0;

  constructor(private readonly limit: number) {}

  /** Calls `line` for each complete line in `chunk` (with what was held before it). */
  push(chunk: Buffer, line: (text: string) => void): void {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const tail = chunk.subarray(start, nl);
      if (this.held + tail.length > this.limit) this.overflow();
      const whole = this.pieces.length === 0 ? tail : Buffer.concat([...this.pieces, tail]);
      this.pieces = [];
      this.held = 0;
      start = nl + 1;
      line(whole.toString("utf8"));
    }
    if (start === chunk.length) return;
    const rest = chunk.subarray(start);
    if (this.held + rest.length > this.limit) this.overflow();
    this.pieces.push(rest);
    this.held += rest.length;
  }

  private overflow(): never {
    this.pieces = [];
    this.held = 0;
    throw new WatchLineTooLong(this.limit);
  }
}

export type WatchCallback = (type: string, object: unknown) => void;

/** What a watch takes after the config: path, query, event callback, done callback. */
export type WatchArgs = [
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  callback: WatchCallback,
  done: (err: unknown) => void,
];

/**
 * Watches `path` (the same contract as the client's Watch.watch): `callback` gets each event,
 * `done` is called once, with null when the server ends the watch or with the error (an answer
 * other than 200 carries its `statusCode`). Resolves with the abort handle once headers are in.
 */
export async function watchBounded(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  callback: WatchCallback,
  done: (err: unknown) => void,
  lineMax = WATCH_LINE_MAX,
): Promise<AbortController> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("No currently active cluster");
  const url = new URL(cluster.server + path);
  url.searchParams.set("watch", "true");
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
  const opts = await kc.applyToFetchOptions({});
  const headers: Record<string, string> = {};
  for (const [k, v] of new Headers(opts.headers as HeadersInit)) headers[k] = v;
  const controller = new AbortController();
  let doneCalled = false;
  const finish = (err: unknown) => {
    if (doneCalled) return;
    doneCalled = true;
    controller.abort();
    done(err);
  };
  const request = url.protocol === "https:" ? https.request : http.request;
  return new Promise<AbortController>((resolve) => {
    const req = request(
      url,
      { method: "GET", headers, agent: opts.agent as http.Agent | undefined, signal: controller.signal },
      (res) => {
        resolve(controller);
        if (res.statusCode !== 200) {
          res.resume();
          const code = res.statusCode ?? 0;
          const err = new Error(res.statusMessage || STATUS_CODES[code] || "Internal Server Error");
          (err as Error & { statusCode: number }).statusCode = code;
          finish(err);
          return;
        }
        res.socket.setKeepAlive(true, 30_000);
        const lines = new BoundedLines(lineMax);
        const onLine = (text: string) => {
          if (doneCalled) return;
          let data: { type?: unknown; object?: unknown };
          try {
            data = JSON.parse(text);
          } catch {
            return; // as the client's Watch: a line that is not JSON is skipped
          }
          callback(String(data.type), data.object);
        };
        res.on("data", (chunk: Buffer) => {
          if (doneCalled) return;
          try {
            lines.push(chunk, onLine);
          } catch (err) {
            finish(err);
          }
        });
        res.on("error", finish);
        res.on("end", () => finish(null));
        res.on("close", () => finish(res.complete ? null : new Error("watch connection closed mid-answer")));
      },
    );
    req.on("error", (err) => {
      finish(err);
      resolve(controller);
    });
    req.end();
  });
}
