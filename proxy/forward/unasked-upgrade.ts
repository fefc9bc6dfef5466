// An upstream that answers 101 Switching Protocols to a request that asked for no upgrade (or
// an interim answer where none may come) has sent a bad response: RFC 9110 section 15.2.2
// lets a server switch only to a protocol the client offered in Upgrade. Both engines met it
// as something else: undici fails the request with a bare SocketError ("bad upgrade", "bad
// response": its only marks, it gives them no code of their own) that read as upstream_reset,
// "closed the connection before answering"; Node's http client, with no 'upgrade' listener on
// the request, destroyed the socket without an error, so the attempt waited out the response
// timeout (504 upstream_timeout). Both are now 502 upstream_bad_response at once, and that
// upstream connection is never reused (what follows the 101 is not HTTP/1.1).

import { errors } from "undici";

/** The attempt's error when Node's http client hands over a 101 nobody asked for. */
export const UNASKED_UPGRADE: Error & { code: string } = Object.assign(
  new Error("the upstream switched protocols on a request that offered no upgrade"),
  { code: "ESHARDGATE_UNASKED_UPGRADE" },
);

/** undici's messages for a 1xx/101 its parser refuses; SocketError carries nothing finer. */
const UNDICI_BAD_INTERIM = new Set(["bad upgrade", "bad response"]);

/** Whether `err` is a 101 (or interim answer) the upstream had no business sending. */
export function isUnaskedUpgrade(err: Error): boolean {
  return (
    err === UNASKED_UPGRADE || (err instanceof errors.SocketError && UNDICI_BAD_INTERIM.has(err.message))
  );
}
