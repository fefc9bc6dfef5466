// The wall clock steps while a connection lingers (an answer sent before the client's upload was
// read: shardgate reads and drops the rest within nginx's bounds, LINGERING_TIME_MS in all).
// Tried from the outside on a real shardgate process whose wall clock libfaketime steps. Found
// on the old code: the bounds were measured with Date.now(), so a step back of an hour held the
// connection (and its slot) for the hour, and a step forward cut every lingering upload at the
// next check, half a second later, resetting clients that had not read their answer yet.
// The bound's length is not what is tried: shardgate runs with it shortened to LINGER_TEST_MS
// (SHARDGATE_TEST_LINGERING_TIME_MS), so neither case waits nginx's 30 s;
// test/proxy/test-duration.test.ts checks the 30 s default.

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { ClockStep, clockStepMissing } from "../support/clock-step.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { scaled } from "../support/wait.js";

const missing = clockStepMissing();
/**
 * The lingering bound the processes run with: ten ticks of its check, and half of it (the +1h
 * case's lower limit) still far more than the answer's flush and the step can be apart. A slower
 * machine's TEST_TIME_SCALE lengthens it, up to the real bound.
 */
const LINGER_TEST_MS = Math.min(scaled(5_000), 30_000);
const clocks: ClockStep[] = [];

after(async () => {
  await stopAll();
  for (const c of clocks) c.remove();
});

/** A shardgate whose wall clock `clock` steps (each case its own, so the cases run side by side). */
interface LingerGate {
  clock: ClockStep;
  sg: RunningShardgate;
  port: number;
}

async function lingerGate(): Promise<LingerGate> {
  const clock = new ClockStep();
  clocks.push(clock);
  // No key: shardgate answers 400 itself without reading the upload, then lingers. The request
  // timeout (Node's requestTimeout, 60 s by default) is raised so it cannot end the lingering.
  const sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0, timeouts: { request: 10m } }
pools:
  p:
    members: [{ id: m1, address: "127.0.0.1:9" }]
routes:
  - { pool: p, key: [header:x-k], onMissingKey: reject }
`,
    { env: { ...clock.env, SHARDGATE_TEST_LINGERING_TIME_MS: String(LINGER_TEST_MS) } },
  );
  return { clock, sg, port: Number(new URL(sg.httpUrl).port) };
}

interface Lingering {
  /** Resolves with performance.now() (this process) when the server let the connection go. */
  closed: Promise<number>;
  stop(): void;
}

/**
 * Sends a head announcing a large upload and a little of it, waits for shardgate's answer, then
 * keeps sending a byte every 250 ms (never idle, never its FIN) until shardgate drops the
 * connection: the first write after that fails, or the socket closes.
 */
async function lingeringUpload({ sg, port }: LingerGate): Promise<Lingering> {
  const s: Socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  s.on("error", () => {});
  let reply = "";
  // The answer and shardgate's FIN: the connection lingers from here.
  const answered = new Promise<void>((resolve, reject) => {
    s.on("data", (d: Buffer) => {
      reply += d.toString("latin1");
    });
    s.once("end", resolve);
    s.once("close", () => reject(new Error(`closed before an answer: ${JSON.stringify(reply)}`)));
  });
  s.write(`POST /up HTTP/1.1\r\nHost: a\r\ncontent-length: 10000000\r\n\r\n${"a".repeat(4096)}`);
  await answered;
  assert.match(reply, /^HTTP\/1\.1 400 /, "shardgate's own 400 (no key)");
  // shardgate notes the flush of its answer in the callback after the FIN went out; an answer
  // from its admin port, asked after the FIN arrived, comes from a later turn of its loop. So the
  // clock steps between the lingering's start and its end, never before the start is noted.
  const r = await fetch(`${sg.adminUrl}/healthz`);
  await r.arrayBuffer();
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<number>((resolve) => {
    s.once("close", () => resolve(performance.now()));
    const trickle = (): void => {
      if (s.destroyed) return;
      s.write("a", (err) => {
        if (err) s.destroy();
      });
      timer = setTimeout(trickle, 250);
    };
    trickle();
  });
  return {
    closed,
    stop: () => {
      clearTimeout(timer);
      s.destroy();
    },
  };
}

/** Resolves with the close time, or rejects after `ms` (scaled) with `what`. */
function closedWithin(l: Lingering, ms: number, what: string): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), scaled(ms));
  });
  return Promise.race([l.closed, late]).finally(() => {
    clearTimeout(timer);
    l.stop();
  });
}

// Each case waits out the lingering bound (LINGER_TEST_MS); their processes and clocks are
// separate, so they run side by side.
describe("clock steps during a lingering close", { skip: missing, concurrency: 2 }, () => {
  it("a lingering upload still ends within its bound after the wall clock steps back an hour", {
    timeout: 300_000,
  }, async () => {
    const g = await lingerGate();
    const l = await lingeringUpload(g);
    g.clock.step("-1h");
    // Its own bound (LINGER_TEST_MS from the answer) ends it; the old code held it for the hour.
    await closedWithin(
      l,
      LINGER_TEST_MS + 90_000,
      `the lingering connection was still open ${LINGER_TEST_MS + 90_000} ms (scaled) after a -1h step`,
    );
  });

  it("a lingering upload is not cut short when the wall clock steps forward an hour", {
    timeout: 300_000,
  }, async () => {
    const g = await lingerGate();
    const l = await lingeringUpload(g);
    const stepped = performance.now();
    g.clock.step("+1h");
    const end = await closedWithin(l, LINGER_TEST_MS + 90_000, "the lingering connection never ended");
    // The bound counts from the answer's flush, which came before the client read it and stepped:
    // half the bound is a lower limit no scheduling delay on a loaded machine can undercut.
    const lived = end - stepped;
    assert.ok(
      lived >= LINGER_TEST_MS / 2,
      `the lingering upload was cut ${Math.round(lived)} ms after a +1h step (its bound is ${LINGER_TEST_MS} ms)`,
    );
  });
});
