// The collection the overload guard forces (proxy/server/heap-shrink.ts): it runs, and taking it
// leaves no `gc` behind in code that runs later: not in the main context, a new vm context or a
// worker thread started afterwards (the config loader runs in one).

import assert from "node:assert/strict";
import { test } from "node:test";
import { runInNewContext } from "node:vm";
import { Worker } from "node:worker_threads";
import { collectGarbage } from "../../proxy/server/heap-shrink.js";

/** `typeof gc` in a worker thread started now. */
function gcInNewWorker(): Promise<string> {
  return new Promise((resolve, reject) => {
    const w = new Worker('require("node:worker_threads").parentPort.postMessage(typeof gc)', { eval: true });
    w.once("message", (m: string) => {
      resolve(m);
      void w.terminate();
    });
    w.once("error", reject);
  });
}

test("a forced collection frees garbage and exposes gc to nothing created afterwards", async () => {
  let junk: Array<{ i: number }> | null = [];
  for (let i = 0; i < 500_000; i++) junk.push({ i });
  junk = null;
  const before = process.memoryUsage().heapUsed;
  assert.equal(collectGarbage(), true);
  const after = process.memoryUsage().heapUsed;
  assert.ok(after < before, `the collection freed nothing (${before} -> ${after} bytes)`);
  assert.equal(collectGarbage(), true, "a second collection runs too");
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined");
  assert.equal(runInNewContext("typeof gc"), "undefined", "a vm context created afterwards has gc");
  assert.equal(await gcInNewWorker(), "undefined", "a worker thread started afterwards has gc");
});
