// proxy/app/descriptor-limits.ts warns of this instance's descriptor limit once per streak, then
// at most once per 30 s. Found on the old code: the 30 s (and the 5 s reuse of the open-descriptor
// count) were measured on Date.now(), so after the wall clock stepped back an hour the next
// shortage's warning was silenced for that hour. The wall clock is stepped here in-process
// (Date.now and performance.now replaced for the test, restored after): under libfaketime, as the
// test/outside/clock-* tests step it, libfaketime itself loses its offset file once the process is
// at its descriptor limit, so a real process cannot show the step there.

import assert from "node:assert/strict";
import { test } from "node:test";
import { probeDescriptorLimits } from "../support/descriptor-limits-probe.js";

test("the descriptor-limit warning is not silenced for the length of a wall-clock step back", (t) => {
  const realDateNow = Date.now;
  const realPerfNow = performance.now;
  let wall = 0;
  let mono = 0;
  Date.now = () => realDateNow() + wall;
  performance.now = () => realPerfNow.call(performance) + mono;
  t.after(() => {
    Date.now = realDateNow;
    performance.now = realPerfNow;
  });
  // The defaults: the clocks the running instance uses.
  const { limits, warnings } = probeDescriptorLimits(() => 0);

  limits.note("accept", "EMFILE");
  assert.equal(warnings.length, 1, "the first shortage is warned");
  limits.note("accept", "EMFILE");
  assert.equal(warnings.length, 1, "the next within 30 s is counted, not warned");

  // 31 s pass; meanwhile the wall clock steps back an hour.
  mono += 31_000;
  wall += 31_000 - 3_600_000;
  limits.note("accept", "EMFILE");
  assert.equal(warnings.length, 2, "warned again 31 s after the last warning, whatever the wall clock did");
  assert.equal(warnings[1].suppressed, 1, "with the count it stood for");
  const at = Date.parse(String(limits.view().last?.at));
  assert.ok(Math.abs(at - Date.now()) < 60_000, "the time shown is wall time, as stepped");
});
