// The edge step list (proxy/forward/edge-step-list.ts) under churn: 10,000 requests on a route
// whose edge step is slow (a held store lookup of a seeded 0-15 ms), each ending its step in one
// of the ways the EdgeRoute contract allows (proceed, fail, an answer of its own), on
// connections that pipeline two requests or whose client leaves mid-step. A request must leave
// the list exactly once however it ends: one left behind would be answered (written to a
// finished response) at the drain deadline and kept alive until then; one removed twice would
// unlink its neighbours. Checked white-box: the list is empty once nothing is in flight, and a
// close() then answers nobody.
// Found: a pipelined request whose client left while its answer was still queued behind the
// one before it never ended (Node never closes such an answer): 235 of 10,000 stayed in flight,
// 212 of them in the list (proxy/server/pipeline-order.ts now closes them).

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import type { RequestContext } from "../../proxy/forward/request-context.js";
import type { EdgeContinuation, EdgeHooks } from "../../proxy/forward/types.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { eventually } from "../support/wait.js";
import { startHarness } from "./harness.js";

const REQUESTS = 10_000;
const CONCURRENCY = 64;
const BUDGET_MS = 120_000;

/** What the held step does once its lookup "answers". */
type Outcome = "proceed" | "fail" | "answer";

function slowEdge(rand: () => number): EdgeHooks {
  const route = {
    begin(ctx: RequestContext, cont: EdgeContinuation) {
      const r = rand();
      const outcome: Outcome = r < 0.6 ? "proceed" : r < 0.8 ? "fail" : "answer";
      setTimeout(
        () => {
          if (outcome === "proceed") cont.proceed(ctx);
          else if (outcome === "fail") cont.fail(ctx, "rate_limit_unavailable");
          else if (ctx.res !== null && !ctx.res.headersSent && !ctx.done) ctx.res.end("from the edge");
        },
        Math.floor(rand() * 16),
      );
    },
    onResponse() {},
    onHeaders() {},
  };
  return { forRoute: () => route };
}

/** The list's head, read from the data plane's private field (null: empty). */
function listHead(plane: unknown): unknown {
  return (plane as { edgeSteps: { head: unknown } }).edgeSteps.head;
}

/** One connection: one or two (pipelined) GETs; the client leaves after `leaveMs` (-1: reads to the end). */
function exchange(port: number, pipelined: boolean, leaveMs: number): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, "127.0.0.1");
    const one = "GET /c HTTP/1.1\r\nHost: x\r\nx-user-id: k\r\n\r\n";
    const last = "GET /c HTTP/1.1\r\nHost: x\r\nx-user-id: k\r\nConnection: close\r\n\r\n";
    s.on("connect", () => s.write(pipelined ? one + last : last));
    s.on("error", () => undefined);
    s.on("close", () => resolve());
    s.resume();
    if (leaveMs >= 0) setTimeout(() => s.destroy(), leaveMs);
    // Bounded: a connection the proxy never ends is ended here and counted by the in-flight check.
    setTimeout(() => s.destroy(), 5_000).unref();
  });
}

test("10,000 requests through a slow edge step (pipelined, aborted, failed, answered): the list ends empty", {
  timeout: BUDGET_MS + 60_000,
}, async (t) => {
  const seed = testSeed(1907);
  const rand = seededRandom(seed);
  const h = await startHarness({ members: 1, edge: slowEdge(seededRandom(seed ^ 0x5eed)) });
  t.after(() => h.close());
  const started = Date.now();
  let sent = 0;
  const worker = async () => {
    while (sent < REQUESTS && Date.now() - started < BUDGET_MS) {
      const pipelined = rand() < 0.25;
      sent += pipelined ? 2 : 1;
      await exchange(h.port, pipelined, rand() < 0.3 ? Math.floor(rand() * 12) : -1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  assert.ok(sent >= REQUESTS, `${sent} requests sent in ${BUDGET_MS} ms; ${seedNote(seed)}`);
  await eventually(
    `nothing in flight (${seedNote(seed)})`,
    () => (h.plane.inFlight() === 0 ? true : undefined),
    20_000,
  );
  assert.equal(listHead(h.plane), null, `a request left in the edge step list; ${seedNote(seed)}`);
  const ends = h.rec.ends.length;
  h.plane.close();
  await new Promise((r) => setImmediate(r));
  assert.equal(h.rec.ends.length, ends, `close() answered nobody; ${seedNote(seed)}`);
});
