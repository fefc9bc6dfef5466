// The wall clock steps back while a reload waits for its config file to hold still (a file
// written in place and still changing: config/file/settled-file.ts). The wait is bounded by
// SHARDGATE_FILE_SETTLE_MAX_MS, after which the reload is refused and the running config kept.
// Tried from the outside on a real shardgate under libfaketime. Found on the old code: the bound
// was measured with Date.now(), so after a -1h step mid-wait the reload went on waiting for the
// hour (the admin reload and every SIGHUP after it queued behind it). Now measured on the
// monotonic clock; only the file-age check (its mtime against now) stays on the wall clock.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ClockStep, clockStepMissing } from "../support/clock-step.js";
import { assertWaitedToBound, keepWriting, stepBackMidWait } from "../support/settling-file.js";
import { type LogLine, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { scaled } from "../support/wait.js";

const missing = clockStepMissing();
/** Generous under load: the writer below must land within every settle period. */
const SETTLE_MS = scaled(1000);
const MAX_MS = scaled(4000);

let upstreams: EchoUpstream[] = [];
let clock: ClockStep | undefined;

after(async () => {
  await stopAll();
  await closeAll(upstreams);
  clock?.remove();
});

const isOutcome = (l: LogLine) =>
  l.msg === "config reloaded" || String(l.msg).startsWith("config reload rejected");

test("a reload waiting for a changing config is refused at its bound when the clock steps back mid-wait", {
  skip: missing,
  timeout: 180_000,
}, async () => {
  upstreams = await startUpstreams(1);
  clock = new ClockStep();
  const yaml = `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
routes:
  - { match: { pathPrefix: / }, pool: users, key: [header:x-user-id] }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:${upstreams[0].port}" }]
`;
  const sg = await startShardgate(yaml, {
    env: {
      ...clock.env,
      SHARDGATE_FILE_SETTLE_MS: String(SETTLE_MS),
      SHARDGATE_FILE_SETTLE_MAX_MS: String(MAX_MS),
    },
  });
  // A valid file, then a comment line every 100 ms: every look finds it changed.
  const writing = keepWriting(sg.config.path, yaml, 100);
  try {
    // The bound is MAX_MS from the SIGHUP; the old code waited for the hour the clock went back.
    const outcome = await stepBackMidWait(sg, clock, {
      start: () => sg.proc.signal("SIGHUP"),
      waiting: {
        what: "the reload waiting for the file",
        is: (l) => String(l.msg).includes("the reload waits for it to hold still"),
      },
      outcome: { what: "the reload's outcome", is: isOutcome },
      maxMs: MAX_MS,
    });
    assert.match(String(outcome.msg), /^config reload rejected/, sg.proc.output());
    assert.match(String(outcome.msg), /still being written after \d+ ms/, sg.proc.output());
    assertWaitedToBound(
      Number(/still being written after (\d+) ms/.exec(String(outcome.msg))?.[1]),
      MAX_MS,
      SETTLE_MS,
    );
  } finally {
    writing.stop();
    await sg.stop();
  }
});
