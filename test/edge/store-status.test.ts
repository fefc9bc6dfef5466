// The shared store's status lines (proxy/redis/store-status.ts): one per 10 s for a failure
// that repeats, at once (at most once a second) for a failure of another kind. In a suite run
// on a loaded machine a command timed out first, and the OOM that followed within 10 s was
// never logged: the operator saw the wrong cause.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { LogSink } from "../../config/log-sink.js";
import { StoreStatus } from "../../proxy/redis/store-status.js";

function recorder(): { sink: LogSink; warns: string[]; infos: number } {
  const out = { warns: [] as string[], infos: 0, sink: undefined as unknown as LogSink };
  out.sink = {
    warn: (o: { err?: string }) => out.warns.push(String(o.err)),
    info: () => {
      out.infos++;
    },
    error: () => {},
    debug: () => {},
  } as unknown as LogSink;
  return out;
}

test("a repeated failure is logged once per 10 s; another kind at once, at most once a second", () => {
  let now = 0;
  const r = recorder();
  const s = new StoreStatus(r.sink, () => now);
  s.failed("Command timed out");
  now = 200;
  s.failed("Command timed out");
  assert.deepEqual(r.warns, ["Command timed out"]);
  // Another kind within the second: held back; after it: logged although 10 s have not passed.
  now = 500;
  s.failed("OOM command not allowed when used memory > 'maxmemory'.");
  assert.equal(r.warns.length, 1);
  now = 1_300;
  s.failed("OOM command not allowed when used memory > 'maxmemory'.");
  assert.deepEqual(r.warns, ["Command timed out", "OOM command not allowed when used memory > 'maxmemory'."]);
  // The same kind again (flapping with successes between): not before 10 s.
  for (let i = 0; i < 50; i++) {
    now += 100;
    s.succeeded();
    s.failed("OOM command not allowed when used memory > 'maxmemory'.");
  }
  assert.equal(r.warns.length, 2);
  assert.equal(r.infos, 1, "one 'available again' line after the logged failure");
  now = 11_400;
  s.failed("OOM command not allowed when used memory > 'maxmemory'.");
  assert.equal(r.warns.length, 3);
});
