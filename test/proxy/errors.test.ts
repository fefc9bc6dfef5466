// The error registry: stable codes with statuses, each documented in README.md.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ERROR_LIST, ERRORS, errorBody, rawErrorResponse } from "../../proxy/errors.js";

function findReadme(): string {
  // test/proxy/ from source, dist/test/proxy/ when compiled.
  for (const p of ["../../README.md", "../../../README.md"]) {
    try {
      return readFileSync(new URL(p, import.meta.url), "utf8");
    } catch {}
  }
  return "";
}

test("every error code has a status in 4xx/5xx and a JSON body {error, message, requestId}", () => {
  for (const e of ERROR_LIST) {
    assert.ok(e.status >= 400 && e.status < 600, e.code);
    assert.equal(ERRORS[e.code as keyof typeof ERRORS], e);
    assert.deepEqual(JSON.parse(errorBody(e.code as keyof typeof ERRORS, "r1")), {
      error: e.code,
      message: e.message,
      requestId: "r1",
    });
    const raw = rawErrorResponse(e.code as keyof typeof ERRORS, "r1");
    const [head, body] = raw.split("\r\n\r\n");
    assert.match(head, new RegExp(`^HTTP/1\\.1 ${e.status} `));
    assert.match(head, new RegExp(`Content-Length: ${Buffer.byteLength(body)}\\r\\n`));
  }
});

test("every error code is documented in README.md", () => {
  const readme = findReadme();
  const missing = ERROR_LIST.filter((e) => !readme.includes(`\`${e.code}\``)).map((e) => e.code);
  assert.deepEqual(missing, [], `README.md does not document: ${missing.join(", ")}`);
});
