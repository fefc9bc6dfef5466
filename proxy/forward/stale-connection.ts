// Whether an attempt failed because the kept-alive upstream connection it went out on had
// just been closed by the upstream (its idle timeout ran out as the request was sent): the
// upstream closed, having answered earlier requests on that connection, before any byte of
// this answer. The request is then retried on the same member over a fresh connection (Go's
// net/http does the same for replayable requests; RFC 9112 section 9.3.1 allows it for
// idempotent ones) instead of moving the key to another member, or failing with a 502 when
// the pool has one member.

import type { ClientRequest } from "node:http";

/**
 * undici: its SocketError "other side closed" carries the socket's counters; bytes read
 * before it mean the connection had carried answers (the failed request's own head never
 * arrived, or the failure would be a cut response). Node's http client: the request went out
 * on a reused socket (`reusedSocket`) and the socket hung up.
 */
export function failedOnStaleConnection(err: Error | undefined, proxyReq: ClientRequest | null): boolean {
  if (err === undefined) return false;
  const e = err as NodeJS.ErrnoException & { socket?: { bytesRead?: number } };
  if (e.code === "UND_ERR_SOCKET") return e.message === "other side closed" && (e.socket?.bytesRead ?? 0) > 0;
  return e.code === "ECONNRESET" && proxyReq?.reusedSocket === true;
}
