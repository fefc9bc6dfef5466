// A member of an h2c pool that sends GOAWAY(NO_ERROR) with shardgate's stream still open (a
// graceful close: the stream may finish), then a malformed frame (a PRIORITY frame making that
// stream depend on itself): nghttp2, on shardgate's side, answers with its own GOAWAY and stops,
// so the stream can never finish. The session had left the pool's list at the member's GOAWAY
// (no new streams go to it), and the dead-session sweep only asked the sessions on that list:
// the request waited for the pool's response timeout (30 s). Now every open session is asked,
// and the request fails within about a second. The member is a raw frame server: its first
// connection misbehaves so on its first stream, every other stream is answered 200.
// Fails on the old code: the answer took the response timeout, past this test's bound.

import assert from "node:assert/strict";
import { test } from "node:test";
import { okHeaders, startFrameScriptedH2cMember } from "../support/frame-scripted-h2c-member.js";
import { frame } from "../support/h2-frames.js";
import { h2cMemberGatePerFile } from "../support/h2c-member-gate.js";
import { timedFetch } from "../support/timed-fetch.js";
import { scaled } from "../support/wait.js";

/** GOAWAY(NO_ERROR) whose last-stream-id 1 keeps stream 1 alive. */
const GRACEFUL_GOAWAY = frame(7, 0, 0, Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]));
const SELF_DEPENDENT_PRIORITY = frame(2, 0, 1, Buffer.from([0, 0, 0, 1, 16]));
/** Far below the pool's 30 s response timeout that bounded it before. */
const BOUND_MS = 10_000;

const gate = h2cMemberGatePerFile(() =>
  startFrameScriptedH2cMember((nth, s) => {
    const misbehave = nth === 0;
    return ({ type, stream }) => {
      if (type === 1 && misbehave) {
        s.write(GRACEFUL_GOAWAY);
        setTimeout(() => s.write(SELF_DEPENDENT_PRIORITY), 200);
      } else if (type === 1) s.write(okHeaders(stream));
    };
  }),
);

test("h2c member: GOAWAY(NO_ERROR), then a malformed frame: the stream left open fails at once, not after the response timeout", async () => {
  const { status, ms } = await timedFetch(`${gate.sg.httpUrl}/first`, {
    method: "POST",
    body: "x",
    headers: { "x-user-id": "k" },
    signal: AbortSignal.timeout(scaled(BOUND_MS)),
  });
  console.log(`answer: ${status} in ${ms} ms; member connections ${gate.member.connections}`);
  assert.equal(status, 502, `the request on the dead session fails within the bound (${ms} ms)`);
  assert.equal(gate.sg.proc.exit, undefined, `shardgate exited\n${gate.sg.proc.output()}`);
});
