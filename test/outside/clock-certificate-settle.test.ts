// The wall clock steps back while the listener's certificate store waits for a certificate file
// written in place to hold still (proxy/server/certificate-store.ts). The wait is bounded by
// SHARDGATE_FILE_SETTLE_MAX_MS, after which the previous pair keeps serving and an error is
// logged. Tried from the outside on a real shardgate under libfaketime. Found on the old code:
// the wait and its bound were measured with Date.now(), so after a -1h step mid-wait the store
// went on looking every settle period for the hour, never logging that the file would not
// settle. Now measured on the monotonic clock.

import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ClockStep, clockStepMissing } from "../support/clock-step.js";
import { assertWaitedToBound, keepWriting, stepBackMidWait } from "../support/settling-file.js";
import { poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { makeCa } from "../support/test-ca.js";
import { scaled } from "../support/wait.js";

const missing = clockStepMissing();
/** Longer than the writer's gap below (400 ms) on a loaded machine, so every look sees a change. */
const SETTLE_MS = scaled(1500);
const MAX_MS = scaled(5000);
const GAVE_UP =
  "listener certificate files still being written; still serving the previous pair until the next change";

let work: string | undefined;
let upstream: Server | undefined;
let clock: ClockStep | undefined;

after(async () => {
  await stopAll();
  upstream?.closeAllConnections();
  if (upstream !== undefined) await new Promise((r) => upstream?.close(r));
  clock?.remove();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

test("a certificate file still being written is given up at the bound when the clock steps back mid-wait", {
  skip: missing,
  timeout: 180_000,
}, async () => {
  work = mkdtempSync(join(tmpdir(), "sg-clock-cert-"));
  makeCa(work, "v1", "v1");
  copyFileSync(join(work, "v1.pem"), join(work, "cur.pem"));
  copyFileSync(join(work, "v1.key"), join(work, "cur.key"));
  upstream = createServer((_req, res) => res.end("ok"));
  await new Promise<void>((r) => upstream?.listen(0, "127.0.0.1", () => r()));
  const up = (upstream.address() as { port: number }).port;
  const yaml = poolConfig({ members: [{ id: "m1", port: up }] }).replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0\n  tls: { cert: ${join(work, "cur.pem")}, key: ${join(work, "cur.key")} }\n`,
  );
  clock = new ClockStep();
  const sg = await startShardgate(yaml, {
    env: {
      ...clock.env,
      SHARDGATE_FILE_SETTLE_MS: String(SETTLE_MS),
      SHARDGATE_FILE_SETTLE_MAX_MS: String(MAX_MS),
    },
  });
  // The same certificate rewritten in place, then a comment line every 400 ms (longer than the
  // watcher's 200 ms debounce, so each one triggers a look; shorter than the settle period).
  const writing = keepWriting(join(work, "cur.pem"), readFileSync(join(work, "v1.pem"), "utf8"), 400);
  try {
    // The bound is MAX_MS from the first look; the old code waited for the hour the clock went back.
    const gaveUp = await stepBackMidWait(sg, clock, {
      waiting: {
        what: "the store waiting for the file",
        is: (l) => String(l.msg).includes("waiting for them to hold still"),
      },
      outcome: { what: "the store giving up", is: (l) => l.msg === GAVE_UP },
      maxMs: MAX_MS,
    });
    assertWaitedToBound(Number(gaveUp.waitedMs), MAX_MS, SETTLE_MS);
  } finally {
    writing.stop();
    await sg.stop();
  }
});
