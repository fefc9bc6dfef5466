// listen.maxUpstreamPerClient (proxy/forward/client-share.ts): an integer 0..256 (0 = off,
// absent = the data plane's default, 64); anything else is refused at its path, by the schema.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../config/file/load.js";
import { defaultClientShare } from "../../proxy/forward/client-share.js";
import { BARE } from "./fixtures.js";

function parse(value: string | null) {
  const listen = value === null ? "" : `listen:\n  maxUpstreamPerClient: ${value}\n`;
  return parseConfig(`${listen}${BARE}`, {}, "t.yaml");
}

test("listen.maxUpstreamPerClient: 0..256 taken as written, absent = the default share", () => {
  for (const [text, want] of [
    ["0", 0],
    ["1", 1],
    ["64", 64],
    ["256", 256],
  ] as const) {
    const r = parse(text);
    assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.errors));
    assert.equal(r.config.listen.maxUpstreamPerClient, want);
  }
  const absent = parse(null);
  assert.ok(absent.ok);
  assert.equal(absent.config.listen.maxUpstreamPerClient, undefined);
  // The default: a quarter of the per-address connection cap, at least 8, never above the cap.
  assert.equal(defaultClientShare(256), 64);
  assert.equal(defaultClientShare(16), 8);
  assert.equal(defaultClientShare(4), 4);
});

test("listen.maxUpstreamPerClient: a negative, fractional, too large or non-number value is refused at its path", () => {
  for (const text of ["-1", "1.5", "257", "lots", "true"]) {
    const r = parse(text);
    assert.ok(!r.ok, `accepted ${text}`);
    const paths = r.errors.map((e) => e.path);
    assert.deepEqual(paths, ["listen.maxUpstreamPerClient"], `${text}: ${JSON.stringify(r.errors)}`);
    assert.match(r.errors[0].expected, /integer 0\.\.256/, `${text}: ${JSON.stringify(r.errors[0])}`);
  }
});
