// The access line's time comes from the request's end as the data plane read it on the
// monotonic clock (the record's endedAt), turned into epoch ms by wall-clock.ts: the wall
// clock is read about once per second of requests, not once per line, and the time is still
// the wall clock's (within a millisecond), follows a stepped wall clock within a second, and is
// Date.now() itself for a record whose end is not a reading taken just now.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { RequestRecord } from "../../proxy/forward/types.js";
import { createAccessLog } from "../../proxy/logging/access-log.js";
import type { BufferLineSink } from "../../proxy/logging/logger.js";
import { CHECK_MS, WallClock } from "../../proxy/logging/wall-clock.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { requestRecord } from "../support/request-record.js";

const SEED = testSeed(0xc10c5);

/** A lending sink that keeps each line's time. */
function timesSink(): { sink: BufferLineSink; times: number[] } {
  const times: number[] = [];
  const buf = Buffer.alloc(64 * 1024);
  const sink: BufferLineSink = {
    buf,
    write(line) {
      times.push(JSON.parse(line).time as number);
    },
    reserve: () => 0,
    commit(end) {
      times.push(JSON.parse(buf.toString("utf8", 0, end)).time as number);
    },
  };
  return { sink, times };
}

/** Counts Date.now() calls made while `fn` runs (the access log is created inside it). */
function countingDateNow<T>(fn: () => T): { calls: number; result: T } {
  const real = Date.now;
  let calls = 0;
  Date.now = () => {
    calls++;
    return real();
  };
  try {
    const result = fn();
    return { calls, result };
  } finally {
    Date.now = real;
  }
}

test("lines of requests ended on the monotonic clock read the wall clock about once a second, and keep its time", () => {
  const rand = seededRandom(SEED);
  const { sink, times } = timesSink();
  const N = 3000;
  const before: number[] = [];
  const after: number[] = [];
  const realNow = Date.now;
  const { calls, result: elapsedMs } = countingDateNow(() => {
    const log = createAccessLog(sink, true);
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      before.push(realNow());
      const endedAt = performance.now();
      const durationMs = rand() * 20;
      const r: RequestRecord = requestRecord({
        startedAt: endedAt - durationMs,
        durationMs,
        endedAt,
        keyHash: Math.floor(rand() * 2 ** 32),
        memberSlot: i % 3,
        member: `m${i % 3}`,
      });
      log.write(r);
      after.push(realNow());
    }
    return performance.now() - t0;
  });
  assert.equal(times.length, N);
  // One look per second of requests (and the first): the old code read Date.now() per line.
  const looks = Math.ceil(elapsedMs / CHECK_MS) + 1;
  assert.ok(calls <= Math.min(looks, N / 10), `${seedNote(SEED)}: ${calls} Date.now() calls for ${N} lines`);
  for (let i = 0; i < N; i++) {
    assert.ok(
      times[i] >= before[i] - 1 && times[i] <= after[i] + 1,
      `${seedNote(SEED)} line ${i}: time ${times[i]} not within 1 ms of [${before[i]}, ${after[i]}]`,
    );
    if (i > 0)
      assert.ok(times[i] >= times[i - 1], `line ${i}: time went back from ${times[i - 1]} to ${times[i]}`);
  }
});

test("a record not ended on this clock just now (built by hand, an injected clock, NaN) gets Date.now()", () => {
  const { sink, times } = timesSink();
  const log = createAccessLog(sink, true);
  const stepped = 5_000_000_000; // far from this process's monotonic clock
  const ends = [-1, 0, Number.NaN, performance.now() + stepped, performance.now() - 60_000];
  for (const endedAt of ends) {
    const before = Date.now();
    log.write(requestRecord({ endedAt }));
    const after = Date.now();
    const t = times[times.length - 1];
    assert.ok(t >= before && t <= after, `endedAt ${endedAt}: time ${t} not in [${before}, ${after}]`);
  }
});

test("an unset end (-1, 0) gets the wall clock even in a process's first 100 ms of monotonic time", () => {
  // Found by CI: access-line-bytes's hand-built records (endedAt -1) ran in a test process whose
  // performance.now() was still under 100 ms, so -1 passed for a reading taken "just now" and the
  // line said the process's start time, 69 ms before the wall clock.
  const wall = 1_700_000_000_000;
  for (const young of [0.5, 20, 98.5]) {
    for (const unset of [-1, 0]) {
      const clock = new WallClock(
        () => wall,
        () => young,
        wall - young,
      );
      assert.equal(clock.at(unset), wall, `monotonic clock at ${young} ms, endedAt ${unset}`);
    }
    // A real reading taken just now still reads through the origin.
    const clock = new WallClock(
      () => wall,
      () => young,
      wall - young,
    );
    assert.ok(Math.abs(clock.at(young) - wall) <= 1, `a reading at ${young} ms`);
  }
});

test("a stepped wall clock is followed within a second of readings", () => {
  let wall = 1_700_000_000_000;
  let mono = 5000;
  const clock = new WallClock(
    () => Math.floor(wall),
    () => mono,
    wall - mono, // timeOrigin: the wall time of monotonic 0
  );
  assert.equal(clock.at(mono), Math.floor(wall));
  // Time passes on both clocks: readings follow without a look.
  mono += 400.25;
  wall += 400.25;
  assert.equal(clock.at(mono), Math.floor(wall));
  // The wall clock is stepped back an hour: readings in the same second still use the old
  // origin; the first reading a second or more after the last look sees the step.
  wall -= 3_600_000;
  mono += 10;
  wall += 10;
  assert.equal(clock.at(mono), Math.floor(wall + 3_600_000));
  mono += CHECK_MS;
  wall += CHECK_MS;
  const t = clock.at(mono);
  assert.ok(Math.abs(t - wall) <= 1, `after the step: ${t}, wall clock ${wall}`);
  mono += 123.5;
  wall += 123.5;
  assert.ok(Math.abs(clock.at(mono) - wall) <= 1);
});
