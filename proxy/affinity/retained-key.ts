// A request-derived string a long-lived map keeps, as its own copy. Keys are read from the
// request in place (key-extract.ts slices the Cookie header, the query or the path), and V8 keeps
// a slice of 13 characters or more as a view of the string it came from: a pin cache entry for a
// 30-byte cookie value held the client's whole Cookie header alive, 16 KiB at the default
// maxHeaderSize (2,000 entries kept 16,158 bytes each; 10,000 pins, the default, ~160 MB, and
// more with a larger header limit; test/outside/complexity-retained-keys.test.ts). A copy costs
// one allocation when an entry is made, never per request.

/** `s` in storage of its own (an exact copy: any UTF-16 content); `s` itself when too short to be a view. */
export function retainedKey(s: string): string {
  // V8's SlicedString::kMinLength: shorter slices are copied already.
  return s.length < 13 ? s : structuredClone(s);
}
