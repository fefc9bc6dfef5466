// The shared timeout sweep decides connect vs response timeouts from the attempt's state.
// (A real connect timeout needs an unroutable address, which loopback-only tests cannot use.)

import assert from "node:assert/strict";
import { test } from "node:test";
import type { RequestContext } from "../../proxy/forward/request-context.js";
import { TimeoutSweep } from "../../proxy/forward/timeout-sweep.js";
import { eventuallyTrue } from "../support/wait.js";

function fakeCtx(connecting: boolean | null, startedAt: number): RequestContext {
  return {
    snapshot: { settings: { timeouts: { connect: 100, response: 1000 } } },
    proxyReq: connecting === null ? null : { socket: { connecting } },
    attemptStartedAt: startedAt,
    // A bodyless request is fully sent when its attempt starts.
    sentAt: startedAt,
    responseStarted: false,
    timedOut: null,
    prev: null,
    next: null,
    inSweep: false,
  } as unknown as RequestContext;
}

test("sweep: connecting past connect timeout -> connect; waiting past response timeout -> timeout", async () => {
  let now = 0;
  const fired: Array<[string, string]> = [];
  const names = new Map<RequestContext, string>();
  const sweep = new TimeoutSweep(
    5,
    () => now,
    (ctx, kind) => {
      fired.push([names.get(ctx) ?? "?", kind]);
      ctx.timedOut = kind;
      sweep.remove(ctx);
    },
  );
  const connecting = fakeCtx(true, 0);
  const waiting = fakeCtx(false, 0);
  const queued = fakeCtx(null, 0);
  const answered = fakeCtx(false, 0);
  answered.responseStarted = true;
  const uploading = fakeCtx(false, 0);
  uploading.sentAt = -1;
  for (const [c, n] of [
    [connecting, "connecting"],
    [waiting, "waiting"],
    [queued, "queued"],
    [answered, "answered"],
    [uploading, "uploading"],
  ] as const) {
    names.set(c, n);
    sweep.add(c);
  }
  now = 150;
  // Wait for the tick itself rather than a fixed sleep (timers run late on a busy machine).
  assert.ok(await eventuallyTrue(() => fired.length >= 1), "the sweep ticked");
  assert.deepEqual(fired, [["connecting", "connect"]]);
  now = 1200;
  assert.ok(
    await eventuallyTrue(() => fired.length >= 3),
    `the sweep ticked again: ${JSON.stringify(fired)}`,
  );
  assert.deepEqual(fired.slice(1).sort(), [
    ["queued", "timeout"],
    ["waiting", "timeout"],
  ]);
  // The upload finished at 1200: its response deadline is 2200, not 1000.
  uploading.sentAt = 1200;
  const ticksBefore = fired.length;
  now = 2300;
  assert.ok(await eventuallyTrue(() => fired.length > ticksBefore), "the sweep ticked for the upload");
  assert.deepEqual(fired.at(-1), ["uploading", "timeout"]);
  assert.equal(fired.length, 4);
  sweep.close();
});
