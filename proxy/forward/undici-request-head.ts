// The forwarded request's headers in the form undici's Request reads with the least work. Given
// an object, undici 7 (lib/core/request.js) first probes it for an iterator (a prototype read and
// an own-property test), then makes the array of its keys and reads each value by key; given a
// flat [name, value, ...] list it walks it once. The list is made here with one for-in over the
// request's header object (its enumeration is cached by V8 for objects of one shape, which Node's
// parsed headers are): `new Request` with shardgate's seven headers, list made included, is about
// 45 ns cheaper (`npm run bench -- head-micro`). Every header undici validated before it still
// validates: only the container changed. Undefined values are left out, as undici leaves them.

import type { IncomingHttpHeaders } from "node:http";

/** An object with no own properties: for-in over it meets only what Object.prototype enumerates. */
const EMPTY = {};

/** Whether something enumerable was added to Object.prototype (for-in would meet it in every object). */
function prototypeEnumerates(): boolean {
  for (const _ in EMPTY) return true;
  return false;
}

/**
 * `headers` as a flat [name, value, ...] list (a repeated header keeps its array value); the
 * object itself should anything enumerable be on Object.prototype, which undici's own walk (own
 * keys only) skips and a for-in would not.
 */
export function requestHeaderList(
  headers: IncomingHttpHeaders,
): Array<string | string[]> | IncomingHttpHeaders {
  if (prototypeEnumerates()) return headers;
  const out: Array<string | string[]> = [];
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) out.push(name, value);
  }
  return out;
}
