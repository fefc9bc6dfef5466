// httpRequest must not call an answer that already arrived a timeout: a test process starved
// of CPU (load 40: the whole machine busy) runs its expired timers before it reads the socket,
// and "no answer within 5000ms" was reported against instances that had answered.
//
// The server runs in a child process, so it answers while this process is blocked: it says on
// stdout that the request arrived and answers 300 ms later; this process, on that line, blocks
// its own event loop well past the request's timeout. When the loop runs again the timeout has
// expired and the answer waits unread in the socket: it must be the result.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { test } from "node:test";
import { httpRequest } from "./cluster/http-client.js";
import { scaled } from "./wait.js";

const SERVER = `
import { createServer } from "node:http";
const server = createServer((_req, res) => {
  process.stdout.write("got\\n");
  setTimeout(() => res.end("answered"), 300);
});
server.listen(0, "127.0.0.1", () => process.stdout.write("port " + server.address().port + "\\n"));
`;

/** The request's base timeout: long enough for a loaded child to answer within it. */
const TIMEOUT_MS = 1_500;
/** Well past the (scaled) timeout. */
const BLOCK_MS = scaled(TIMEOUT_MS) + 1_500;

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Holds the event loop, as a starved process does.
  }
}

test("an answer that arrived while the client was blocked past its timeout is the result", async () => {
  const child: ChildProcess = spawn(process.execPath, ["--input-type=module", "-e", SERVER], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const out = child.stdout;
    assert.ok(out !== null);
    out.setEncoding("utf8");
    const port = await new Promise<number>((resolve, reject) => {
      out.once("data", (line: string) => {
        const m = /port (\d+)/.exec(line);
        if (m === null) reject(new Error(`server said ${line}`));
        else resolve(Number(m[1]));
      });
      child.once("exit", (code) => reject(new Error(`server exited ${code}`)));
    });
    let blockedMs = 0;
    out.once("data", () => {
      const t0 = performance.now();
      busy(BLOCK_MS);
      blockedMs = performance.now() - t0;
    });
    const r = await httpRequest(`http://127.0.0.1:${port}/`, { timeoutMs: TIMEOUT_MS, fresh: true });
    assert.ok(blockedMs >= BLOCK_MS, `the client was blocked ${blockedMs} ms while the answer was sent`);
    assert.equal(r.status, 200);
    assert.equal(r.text, "answered");
  } finally {
    child.kill();
  }
});
