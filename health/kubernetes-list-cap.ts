// Bounds the bytes of one Kubernetes list answer. The client library reads a list page whole
// (node-fetch's text()) before it parses it, with no limit: an API server, or something in
// between, answering a page without end filled memory until the list timeout (30 s) fired,
// which on a fast link is gigabytes. The library has no option for it, so this watches the
// request made through the page's own agent (one per API call) on Node's http client channel
// and aborts the list once its answer passes the limit. The page asks for no compression, and
// an answer compressed anyway is refused: its bytes on the wire would not bound its size.

import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { ClientRequest } from "node:http";

/** Bytes of one list page at most (500 slices of 100 endpoints are about 20 MiB of JSON). */
export const LIST_ANSWER_MAX = 64 * 1024 * 1024;

export class ListAnswerTooLarge extends Error {
  readonly code = "LIST_ANSWER_TOO_LARGE";
}

const CHANNEL = "http.client.request.start";

/**
 * Until the returned undo is called, the answers to requests made through `agent` are counted;
 * past `max` bytes (or compressed), `over` is called once with the reason.
 */
export function capAnswerBytes(
  agent: object,
  max: number,
  over: (err: ListAnswerTooLarge) => void,
): () => void {
  let total = 0;
  let fired = false;
  const fire = (text: string) => {
    if (fired) return;
    fired = true;
    over(new ListAnswerTooLarge(text));
  };
  const onStart = (msg: unknown) => {
    const req = (msg as { request?: ClientRequest & { agent?: unknown } }).request;
    if (req === undefined || req.agent !== agent) return;
    req.once("response", (res) => {
      const coding = res.headers["content-encoding"];
      if (coding !== undefined && coding !== "identity") {
        fire(`list answer compressed (${coding}) though none was asked for; refused`);
        return;
      }
      res.on("data", (c: Buffer) => {
        total += c.length;
        if (total > max) fire(`list answer longer than ${String(max)} bytes; aborted`);
      });
    });
  };
  subscribe(CHANNEL, onStart);
  return () => unsubscribe(CHANNEL, onStart);
}
