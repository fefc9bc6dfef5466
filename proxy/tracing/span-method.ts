// The request method as OpenTelemetry's HTTP semantic conventions want it in span names and
// attributes. The method is the client's choice (HTTP/2 allows any token): a name built from it
// unchanged gives a trace backend one span name per invented method. Known methods stay as
// they are; anything else is `_OTHER` in `http.request.method` (the original goes to
// `http.request.method_original`) and `HTTP` in the span name.

const KNOWN = new Set(["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"]);

/** The value for `http.request.method`: the method when known (case-sensitive), else `_OTHER`. */
export function semconvMethod(method: string): string {
  return KNOWN.has(method) ? method : "_OTHER";
}

/** The method part of a span name: the method when known, else `HTTP`. */
export function spanNameMethod(method: string): string {
  return KNOWN.has(method) ? method : "HTTP";
}
