import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAddress, parseCidr } from "../../config/address.js";
import { parseHostMatch } from "../../config/file/host-match.js";
import { formatKeySpec, parseKeySpec } from "../../config/file/key-spec.js";
import { parseStatusRanges } from "../../config/file/status-ranges.js";
import { MAX_TIMER_MS, parseDuration, parseSize } from "../../config/file/units.js";

test("durations normalize to milliseconds", () => {
  const good: Array<[unknown, number]> = [
    ["500ms", 500],
    ["2s", 2000],
    ["1m", 60_000],
    ["1m30s", 90_000],
    ["1h2m3s4ms", 3_723_004],
    ["1.5s", 1500],
    ["24h", 86_400_000],
    ["1d", 86_400_000],
    [" 3s ", 3000],
    [250, 250],
    ["250", 250],
    [0, 0],
  ];
  for (const [input, ms] of good)
    assert.deepEqual(parseDuration(input), { ok: true, value: ms }, String(input));
  for (const input of [
    "",
    "s",
    "-1s",
    "1s1m",
    "1m1m",
    "2 s",
    "5sec",
    "1e3",
    -5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    true,
    null,
    {},
    [],
  ]) {
    assert.equal(parseDuration(input).ok, false, JSON.stringify(input));
  }
});

test("durations are bounded by the longest Node timer unless a caller allows more", () => {
  assert.deepEqual(parseDuration("24d"), { ok: true, value: 24 * 86_400_000 });
  assert.deepEqual(parseDuration(MAX_TIMER_MS), { ok: true, value: MAX_TIMER_MS });
  for (const input of ["25d", MAX_TIMER_MS + 1, "99999999999999999999d"]) {
    const r = parseDuration(input);
    assert.ok(!r.ok && /at most 2147483647ms/.test(r.expected), JSON.stringify([input, r]));
  }
  assert.deepEqual(parseDuration("30d", 400 * 86_400_000), { ok: true, value: 30 * 86_400_000 });
});

test("sizes normalize to bytes (1kb = 1024)", () => {
  const good: Array<[unknown, number]> = [
    ["16kb", 16_384],
    ["16KB", 16_384],
    ["1mb", 1_048_576],
    ["1gb", 1_073_741_824],
    ["100b", 100],
    ["100", 100],
    [8192, 8192],
  ];
  for (const [input, bytes] of good)
    assert.deepEqual(parseSize(input), { ok: true, value: bytes }, String(input));
  for (const input of ["", "kb", "16 kilobytes", "-1kb", 1.5, -1, "1tb"])
    assert.equal(parseSize(input).ok, false, String(input));
});

test("addresses normalize to {host, port}; IPv6 in brackets", () => {
  assert.deepEqual(parseAddress("127.0.0.1:8080"), { ok: true, value: { host: "127.0.0.1", port: 8080 } });
  assert.deepEqual(parseAddress("[::1]:9901"), { ok: true, value: { host: "::1", port: 9901 } });
  assert.deepEqual(parseAddress("Api.Internal:443"), {
    ok: true,
    value: { host: "api.internal", port: 443 },
  });
  assert.deepEqual(parseAddress({ host: "::1", port: 1 }), { ok: true, value: { host: "::1", port: 1 } });
  assert.deepEqual(parseAddress("0.0.0.0:0", true), { ok: true, value: { host: "0.0.0.0", port: 0 } });
  for (const bad of [
    "127.0.0.1",
    ":80",
    "h:",
    "h:0",
    "h:65536",
    "::1:80",
    "[::1]80",
    "[nothost]:80",
    "bad host:80",
    "h:8a",
    8080,
    { host: "h" },
  ]) {
    assert.equal(parseAddress(bad).ok, false, JSON.stringify(bad));
  }
});

test("CIDR blocks", () => {
  assert.deepEqual(parseCidr("10.0.0.0/8"), {
    ok: true,
    value: { address: "10.0.0.0", prefix: 8, family: "ipv4" },
  });
  assert.deepEqual(parseCidr("fd00::/8"), {
    ok: true,
    value: { address: "fd00::", prefix: 8, family: "ipv6" },
  });
  assert.deepEqual(parseCidr("1.2.3.4"), {
    ok: true,
    value: { address: "1.2.3.4", prefix: 32, family: "ipv4" },
  });
  for (const bad of ["10.0.0.0/33", "::/129", "10.0.0/8", "x/8", "10.0.0.0/", 5])
    assert.equal(parseCidr(bad).ok, false, String(bad));
});

test("key specs parse into tagged objects and print back", () => {
  const cases: Array<[string, unknown, string]> = [
    ["header:X-User-Id", { kind: "header", name: "x-user-id" }, "header:x-user-id"],
    ["cookie:uid", { kind: "cookie", name: "uid" }, "cookie:uid"],
    ["query:tenant", { kind: "query", name: "tenant" }, "query:tenant"],
    ["path:2", { kind: "path", index: 2 }, "path:2"],
    ["ip", { kind: "ip" }, "ip"],
  ];
  for (const [text, spec, back] of cases) {
    const r = parseKeySpec(text);
    assert.deepEqual(r, { ok: true, value: spec });
    assert.ok(r.ok);
    assert.equal(formatKeySpec(r.value), back);
    assert.deepEqual(parseKeySpec(r.value), r, "normalized form parses to itself");
  }
  for (const bad of [
    "header:",
    "header",
    "ip:1",
    "path:0",
    "path:x",
    "body:x",
    "header:a b",
    "",
    3,
    { kind: "header" },
  ]) {
    assert.equal(parseKeySpec(bad).ok, false, JSON.stringify(bad));
  }
});

test("host patterns", () => {
  assert.deepEqual(parseHostMatch("*"), { ok: true, value: { kind: "any" } });
  assert.deepEqual(parseHostMatch("*.Example.com"), {
    ok: true,
    value: { kind: "suffix", suffix: ".example.com" },
  });
  assert.deepEqual(parseHostMatch("API.example.com"), {
    ok: true,
    value: { kind: "exact", host: "api.example.com" },
  });
  for (const bad of ["", "a.*.com", "*example.com", "a b", "**"])
    assert.equal(parseHostMatch(bad).ok, false, bad);
});

test("status expectations", () => {
  assert.deepEqual(parseStatusRanges("200-399"), { ok: true, value: [{ from: 200, to: 399 }] });
  assert.deepEqual(parseStatusRanges([200, "204"]), {
    ok: true,
    value: [
      { from: 200, to: 200 },
      { from: 204, to: 204 },
    ],
  });
  for (const bad of ["399-200", 99, 600, [], "2xx"])
    assert.equal(parseStatusRanges(bad).ok, false, String(bad));
});
