// The bounds tests shorten with SHARDGATE_TEST_<NAME> (proxy/test-duration.ts): without the
// variable each is its real default (the tests that wait for these bounds run them shortened, so
// this is where the defaults are checked), a valid value shortens it, and nothing an operator
// could set lengthens it or stops the process. The module-level reads are tried in fresh Node
// processes, since each bound is read once, when its module loads.

import assert from "node:assert/strict";
import { test } from "node:test";
import { readTestDuration } from "../../proxy/test-duration.js";
import { freshModuleValue as loaded } from "../support/fresh-module-value.js";

test("unset or empty: the default; whole milliseconds from 1 to the default: used", () => {
  assert.deepEqual(readTestDuration("X_MS", 30_000, {}), { ms: 30_000 });
  assert.deepEqual(readTestDuration("X_MS", 30_000, { SHARDGATE_TEST_X_MS: "" }), { ms: 30_000 });
  assert.deepEqual(readTestDuration("X_MS", 30_000, { SHARDGATE_TEST_X_MS: "1" }), { ms: 1 });
  assert.deepEqual(readTestDuration("X_MS", 30_000, { SHARDGATE_TEST_X_MS: "4000" }), { ms: 4000 });
  assert.deepEqual(readTestDuration("X_MS", 30_000, { SHARDGATE_TEST_X_MS: "30000" }), { ms: 30_000 });
  // Another bound's variable is not this one's.
  assert.deepEqual(readTestDuration("X_MS", 30_000, { SHARDGATE_TEST_Y_MS: "5" }), { ms: 30_000 });
});

test("anything else keeps the default and says why, naming the variable and the range", () => {
  for (const raw of ["0", "30001", "999999999999", "-5", "1.5", "2s", " 100", "1e3", "0x10", "abc"]) {
    const d = readTestDuration("X_MS", 30_000, { SHARDGATE_TEST_X_MS: raw });
    assert.equal(d.ms, 30_000, raw);
    assert.ok(
      d.refused?.startsWith(`SHARDGATE_TEST_X_MS=${JSON.stringify(raw)} ignored`),
      `${raw}: ${d.refused}`,
    );
    assert.match(d.refused ?? "", /from 1 to 30000/, raw);
  }
  // A long value is quoted cut short, not echoed whole.
  const long = readTestDuration("X_MS", 30_000, { SHARDGATE_TEST_X_MS: "9".repeat(5000) });
  assert.ok((long.refused?.length ?? 0) < 300, long.refused);
});

test("the real defaults: 30 s lingering close, 10 s for a silent keys pipe, admin warnings 10 s apart, 5 s stop close", () => {
  assert.deepEqual(loaded("server/linger-close.js", "LINGERING_TIME_MS", {}), { value: "30000", stderr: "" });
  assert.deepEqual(loaded("ctl/route-command.js", "KEYS_PIPE_IDLE_MS", {}), { value: "10000", stderr: "" });
  assert.deepEqual(loaded("admin/server.js", "ADMIN_LOG_EVERY_MS", {}), { value: "10000", stderr: "" });
  assert.deepEqual(loaded("app/stop-deadline.js", "STOP_CLOSE_MS", {}), { value: "5000", stderr: "" });
});

test("the real defaults: h2 dead-session sweep 1 s, upstream idle 4 s, DNS lookup 5 s with c-ares tries from 1.5 s", () => {
  assert.deepEqual(loaded("server/h2-dead-session.js", "DEAD_SESSION_SWEEP_MS", {}), {
    value: "1000",
    stderr: "",
  });
  assert.deepEqual(loaded("forward/data-plane.js", "UPSTREAM_IDLE_MS", {}), { value: "4000", stderr: "" });
  assert.deepEqual(loaded("net/bounded-lookup.js", "DEFAULT_LOOKUP_SETTINGS.timeoutMs", {}), {
    value: "5000",
    stderr: "",
  });
  assert.deepEqual(loaded("net/bounded-lookup.js", "DEFAULT_LOOKUP_SETTINGS.queryTimeoutMs", {}), {
    value: "1500",
    stderr: "",
  });
});

test("a process given SHARDGATE_TEST_LINGERING_TIME_MS runs with it; a longer one is refused on stderr", () => {
  assert.equal(
    loaded("server/linger-close.js", "LINGERING_TIME_MS", { SHARDGATE_TEST_LINGERING_TIME_MS: "2500" }).value,
    "2500",
  );
  const longer = loaded("server/linger-close.js", "LINGERING_TIME_MS", {
    SHARDGATE_TEST_LINGERING_TIME_MS: "3600000",
  });
  assert.equal(longer.value, "30000");
  assert.match(
    longer.stderr,
    /^shardgate: SHARDGATE_TEST_LINGERING_TIME_MS="3600000" ignored: .*using 30000\n$/,
  );
});
