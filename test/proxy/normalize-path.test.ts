// normalizePath: RFC 3986 section 6.2.2 normalisation of the routed path (unreserved
// percent-encodings decoded, dot segments removed per 5.2.4), the query left alone.

import assert from "node:assert/strict";
import { test } from "node:test";
import { normalizePath } from "../../proxy/routing/normalize-path.js";

test("RFC 3986 section 5.4 results whose merged paths hold dot segments", () => {
  // Base "http://a/b/c/d;p?q": the merged path each reference resolves through, and its result.
  const cases: Array<[string, string]> = [
    ["/b/c/./g", "/b/c/g"],
    ["/b/c/g/", "/b/c/g/"],
    ["/b/c/.", "/b/c/"],
    ["/b/c/./", "/b/c/"],
    ["/b/c/..", "/b/"],
    ["/b/c/../", "/b/"],
    ["/b/c/../g", "/b/g"],
    ["/b/c/../..", "/"],
    ["/b/c/../../", "/"],
    ["/b/c/../../g", "/g"],
    ["/b/c/../../../g", "/g"],
    ["/b/c/../../../../g", "/g"],
    ["/./g", "/g"],
    ["/../g", "/g"],
    ["/b/c/g.", "/b/c/g."],
    ["/b/c/.g", "/b/c/.g"],
    ["/b/c/g..", "/b/c/g.."],
    ["/b/c/..g", "/b/c/..g"],
    ["/b/c/./../g", "/b/g"],
    ["/b/c/./g/.", "/b/c/g/"],
    ["/b/c/g/./h", "/b/c/g/h"],
    ["/b/c/g/../h", "/b/c/h"],
    ["/b/c/g;x=1/./y", "/b/c/g;x=1/y"],
    ["/b/c/g;x=1/../y", "/b/c/y"],
    // Section 5.2.4's own examples.
    ["/a/b/c/./../../g", "/a/g"],
    ["/..", "/"],
    ["/.", "/"],
  ];
  for (const [input, want] of cases) assert.equal(normalizePath(input), want, input);
});

test("encoded dots are dot segments; other unreserved characters are decoded", () => {
  assert.equal(normalizePath("/api/%2e%2e/x"), "/x");
  assert.equal(normalizePath("/api/%2E%2E/x"), "/x");
  assert.equal(normalizePath("/api/.%2e/x"), "/x");
  assert.equal(normalizePath("/api/%2e/x"), "/api/x");
  assert.equal(normalizePath("/%41b%7e%2D%5f"), "/Ab~-_");
});

test("reserved characters stay encoded (hex upper-cased), so %2F is no separator", () => {
  assert.equal(normalizePath("/api/..%2f..%2fx"), "/api/..%2F..%2Fx");
  assert.equal(normalizePath("/api/%2F../x"), "/api/%2F../x");
  assert.equal(normalizePath("/api/%2F/../x"), "/api/x");
  assert.equal(normalizePath("/a/%5c..%5cb"), "/a/%5C..%5Cb");
  assert.equal(normalizePath("/a%20b/%3f"), "/a%20b/%3F");
  // Not a percent-encoding: left as sent.
  assert.equal(normalizePath("/a/%zz/%4"), "/a/%zz/%4");
  assert.equal(normalizePath("/a/%"), "/a/%");
});

test("the query string is never touched", () => {
  assert.equal(normalizePath("/api/../x?p=/a/../b&q=%2e%41"), "/x?p=/a/../b&q=%2e%41");
  assert.equal(normalizePath("/a?x=/./%2e"), "/a?x=/./%2e");
  assert.equal(normalizePath("/a/./b?"), "/a/b?");
});

test("empty segments (//) are kept as they are", () => {
  assert.equal(normalizePath("//x"), "//x");
  assert.equal(normalizePath("/a//b"), "/a//b");
  assert.equal(normalizePath("/a//b/../c"), "/a//c");
  assert.equal(normalizePath("/a//.."), "/a/");
});

test("a path with nothing to normalise comes back as the same string", () => {
  for (const url of ["/", "/users/42", "/a.b/c.d?x=%2e", "/x?y=/../z", "/a-b_c~d/e"]) {
    assert.equal(normalizePath(url), url);
  }
  // Slow path taken ("/." or "%" present), nothing changed: still the input.
  assert.equal(normalizePath("/.well-known/x"), "/.well-known/x");
  assert.equal(normalizePath("/a%2Fb"), "/a%2Fb");
});
