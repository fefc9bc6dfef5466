// The decoded size of an HTTP/2 request's header list, checked against listen.maxHeaderSize by
// shardgate itself. nghttp2 enforces SETTINGS_MAX_HEADER_LIST_SIZE only once the client has
// acknowledged the server's SETTINGS; a client that never sends the ACK is held to nothing but
// the pair count (256). HPACK lets such a client put one 4 KB field in the dynamic table and
// then name it again with one byte per line: a 4.3 KB header block decoded to 1 MB (250 lines),
// 60x listen.maxHeaderSize, and was routed and forwarded upstream whole
// (test/outside/complexity-h2-header-list.test.ts).

/** Whether the header list of `rawHeaders` ([name, value, ...]) is over `limit` bytes, counted as RFC 9113 section 6.5.2 does (name + value + 32 a field). */
export function headerListOver(rawHeaders: readonly string[], limit: number): boolean {
  let size = 0;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    size += rawHeaders[i].length + rawHeaders[i + 1].length + 32;
    if (size > limit) return true;
  }
  return false;
}
