// Tried from the outside: a request pipelined behind an unsafe one waits its turn in
// proxy/server/pipeline-order.ts before the data plane sees it, and its access line's
// durationMs started only when it was let through: a GET that waited 800 ms behind a slow POST
// was logged as a few milliseconds. Its duration now runs from its arrival, and the wait is
// its own field, queuedMs (0 for a request handled on arrival). Both engines, a real shardgate
// process per engine, a real upstream, a raw client socket on loopback.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ENGINES, type Engine, type PerEngineBehind, startPerEngineBehind } from "../support/per-engine.js";
import { rawSession } from "../support/raw-socket.js";
import { eventually, type RunningShardgate, stopAll } from "../support/shardgate-process.js";

/** How long the upstream holds the POST's answer: the GET behind it waits at least this long. */
const HOLD_MS = 800;
const DEADLINE_MS = 20_000;

let behind: PerEngineBehind | undefined;
let running: Map<Engine, RunningShardgate>;

before(async () => {
  behind = await startPerEngineBehind((req, res) => {
    req.resume();
    req.on("end", () => {
      const answer = (): void => {
        res.writeHead(200, { "content-type": "text/plain", "content-length": 2 });
        res.end("ok");
      };
      if (req.method === "POST") setTimeout(answer, HOLD_MS);
      else answer();
    });
  });
  running = behind.running;
});

after(async () => {
  await stopAll();
  await behind?.closeUpstream();
});

for (const engine of ENGINES) {
  test(`${engine}: a GET pipelined behind a slow POST logs its wait (queuedMs) inside its durationMs`, async () => {
    const sg = running.get(engine);
    assert.ok(sg !== undefined);
    const port = Number(new URL(sg.httpUrl).port);
    const post = `/q/${engine}/post`;
    const get = `/q/${engine}/get`;
    const { reply } = await rawSession(port, DEADLINE_MS, (s) => {
      s.write(
        `POST ${post} HTTP/1.1\r\nHost: t\r\nx-user-id: u\r\ncontent-length: 3\r\n\r\nabc` +
          `GET ${get} HTTP/1.1\r\nHost: t\r\nx-user-id: u\r\nconnection: close\r\n\r\n`,
      );
    });
    assert.deepEqual(reply.match(/HTTP\/1\.1 \d{3}/g), ["HTTP/1.1 200", "HTTP/1.1 200"], reply);
    const lineOf = (path: string) =>
      eventually(`the access line of ${path}`, () =>
        sg.proc.lines.find((l) => l.type === "access" && l.path === path),
      );
    const postLine = await lineOf(post);
    const getLine = await lineOf(get);
    assert.equal(postLine.queuedMs, 0, JSON.stringify(postLine));
    const queued = getLine.queuedMs as number;
    const duration = getLine.durationMs as number;
    // The POST's answer came HOLD_MS after the upstream got it, and the GET had arrived before.
    assert.ok(typeof queued === "number" && queued >= HOLD_MS * 0.95, `queuedMs: ${JSON.stringify(getLine)}`);
    assert.ok(duration >= queued, `durationMs runs from the arrival: ${JSON.stringify(getLine)}`);
    assert.ok((postLine.durationMs as number) >= HOLD_MS * 0.95, JSON.stringify(postLine));
  });
}
