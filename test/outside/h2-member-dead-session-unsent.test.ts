// A request put on a member session nghttp2 had already ended (it sent GOAWAY for the member's
// malformed frame, and until the dead-session sweep finds it, the session still looks live):
// its HEADERS never leave nghttp2's queue, so the member never saw it, and it is safe to send
// again whatever its method. The member here is a raw frame server whose first connection
// answers its first stream with a self-dependent PRIORITY frame and every later stream 200.

import assert from "node:assert/strict";
import { test } from "node:test";
import { okHeaders, startFrameScriptedH2cMember } from "../support/frame-scripted-h2c-member.js";
import { frame } from "../support/h2-frames.js";
import { h2cMemberGatePerFile } from "../support/h2c-member-gate.js";
import { metricValue } from "../support/shardgate-process.js";
import { type TimedAnswer, timedFetch } from "../support/timed-fetch.js";
import { scaled } from "../support/wait.js";

const SELF_DEPENDENT_PRIORITY = frame(2, 0, 1, Buffer.from([0, 0, 0, 1, 16]));

const seen: string[] = [];
const gate = h2cMemberGatePerFile(() =>
  startFrameScriptedH2cMember((nth, s) => {
    const misbehave = nth === 0;
    let first = true;
    return ({ type, flags, stream }) => {
      if (type === 1) {
        seen.push(`connection ${gate.member.connections} stream ${stream}`);
        // Answered once its body ended (END_STREAM on HEADERS or on a DATA frame).
        if (misbehave && first) s.write(SELF_DEPENDENT_PRIORITY);
        else if ((flags & 1) === 1) s.write(okHeaders(stream));
        first = false;
      }
      if (type === 0 && (flags & 1) === 1 && !(misbehave && stream === 1)) s.write(okHeaders(stream));
    };
  }),
);

function send(path: string, method: string): Promise<TimedAnswer> {
  return timedFetch(`${gate.sg.httpUrl}${path}`, {
    method,
    headers: { "x-user-id": "k" },
    body: method === "POST" ? "payload" : undefined,
    signal: AbortSignal.timeout(scaled(10_000)),
  });
}

test("h2c member: a POST put on a session nghttp2 had ended, never sent, is sent again on a new session", async () => {
  const first = send("/first", "GET");
  await new Promise((r) => setTimeout(r, 200));
  const second = send("/second", "POST");
  const [a, b] = await Promise.all([first, second]);
  console.log(
    `first GET: ${a.status} in ${a.ms} ms; second POST: ${b.status} in ${b.ms} ms; member saw ${seen.join(", ")}`,
  );
  assert.equal(a.status, 502, "the request the member answered with garbage fails");
  assert.equal(b.status, 200, `the POST the member never saw is served (${b.ms} ms)`);
  // The member sent garbage once: one failure against it, not one per request put on the session.
  const text = await (await fetch(`${gate.sg.adminUrl}/metrics`)).text();
  const resets = metricValue(text, "shardgate_upstream_errors_total", {
    pool: "users",
    member: "m1",
    kind: "reset",
  });
  assert.equal(resets, 1, "one reset counted against the member");
  assert.equal(gate.sg.proc.exit, undefined, `shardgate exited\n${gate.sg.proc.output()}`);
});
