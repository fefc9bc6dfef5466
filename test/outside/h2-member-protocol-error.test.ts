// A member of an h2c pool that sends a malformed frame (a PRIORITY frame making stream 1 depend
// on itself): nghttp2, on shardgate's side, answers with GOAWAY(PROTOCOL_ERROR) and stops, and
// Node kept the session as if it were live. The request on it waited for the pool's response
// timeout (30 s), and so did every request that arrived meanwhile, put on the same session. Now
// the dead session is failed within about a second (h2-dead-session.ts): the stream ends 502, and
// the requests after it go to a new session and are served. The member here is a raw frame
// server: its first connection misbehaves on its first stream, every other stream is answered 200.
// Fails on the old code: the first answer took the response timeout, past this test's bound.

import assert from "node:assert/strict";
import { test } from "node:test";
import { okHeaders, startFrameScriptedH2cMember } from "../support/frame-scripted-h2c-member.js";
import { frame } from "../support/h2-frames.js";
import { h2cMemberGatePerFile } from "../support/h2c-member-gate.js";
import { type TimedAnswer, timedFetch } from "../support/timed-fetch.js";
import { scaled } from "../support/wait.js";

const SELF_DEPENDENT_PRIORITY = frame(2, 0, 1, Buffer.from([0, 0, 0, 1, 16]));

const gate = h2cMemberGatePerFile(() =>
  startFrameScriptedH2cMember((nth, s) => {
    const misbehave = nth === 0;
    let first = true;
    return ({ type, stream }) => {
      if (type === 1) s.write(misbehave && first ? SELF_DEPENDENT_PRIORITY : okHeaders(stream));
      if (type === 1) first = false;
    };
  }),
);

function get(path: string): Promise<TimedAnswer> {
  return timedFetch(`${gate.sg.httpUrl}${path}`, {
    headers: { "x-user-id": "k" },
    signal: AbortSignal.timeout(scaled(10_000)),
  });
}

test("h2c member sending a malformed frame: its session is failed at once, not after the response timeout", async () => {
  const first = get("/first");
  // Arrives while the first request's session is dead: it used to be put on it too.
  await new Promise((r) => setTimeout(r, 200));
  const second = get("/second");
  const [a, b] = await Promise.all([first, second]);
  console.log(
    `first: ${a.status} in ${a.ms} ms; second: ${b.status} in ${b.ms} ms; member connections ${gate.member.connections}`,
  );
  assert.equal(a.status, 502, `the request on the dead session fails within the bound (${a.ms} ms)`);
  assert.equal(b.status, 200, `the next request is served (${b.ms} ms)`);
  assert.equal(gate.member.connections, 2, "one new session replaced the dead one");
  assert.equal(gate.sg.proc.exit, undefined, `shardgate exited\n${gate.sg.proc.output()}`);
});
