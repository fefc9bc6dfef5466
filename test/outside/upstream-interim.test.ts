// Interim (1xx) answers an upstream sends without being asked, tried from the outside: a real
// shardgate process in front of a raw TCP upstream. RFC 9110 section 15.2: a client must parse
// 1xx responses it did not expect; a proxy forwards or drops them, never fails the request.
// Found: an unsolicited `100 Continue` before the real answer was a 502 upstream_reset on the
// undici engine (undici 7 destroys the connection on any 100; the answer behind it was lost).
// Now dropped, as Envoy drops upstream 100s it did not ask for, and the final answer relayed
// (proxy/forward/undici-interim.ts). 102 and 103 Early Hints were already dropped, kept here as
// guards, and so is the http-proxy-3 engine (Node's client takes every 1xx).
// Each engine gets its own process; the upstream connection is reused after the 1xx answers
// (the parser was left in a clean state).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ENGINES, startPerEngine } from "../support/per-engine.js";
import { rawSession } from "../support/raw-socket.js";
import { type Script, type ScriptedUpstream, startScriptedUpstream } from "../support/scripted-upstream.js";
import { type RunningShardgate, stopAll } from "../support/shardgate-process.js";

const FINAL = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-final: yes\r\n\r\nfinal";

/** How the upstream answers the request for `/<name>`. */
const ANSWERS: Record<string, Script> = {
  ok: (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
  continue: (s) => s.write(`HTTP/1.1 100 Continue\r\n\r\n${FINAL}`),
  // A 100 with fields, a second one, and the pieces on separate writes.
  twoContinues: (s) => {
    s.write("HTTP/1.1 100 Continue\r\nx-interim: 1\r\n\r\n");
    setTimeout(() => s.write(`HTTP/1.1 100 Continue\r\n\r\n${FINAL}`), 20);
  },
  processing: (s) => s.write(`HTTP/1.1 102 Processing\r\n\r\n${FINAL}`),
  earlyHints: (s) => s.write(`HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n${FINAL}`),
};

let upstream: ScriptedUpstream;
const running = new Map<string, RunningShardgate>();

before(async () => {
  upstream = await startScriptedUpstream(ANSWERS);
  for (const [engine, sg] of await startPerEngine(upstream.port, [
    "timeouts: { response: 10s }",
    "retry: { attempts: 1 }",
    "breaker: { consecutiveFailures: 1000, minRequests: 1000 }",
  ]))
    running.set(engine, sg);
});

after(async () => {
  await stopAll();
  await upstream.close();
});

/** One request on its own client connection, asking to close after it. */
function ask(sg: RunningShardgate, path: string) {
  const port = Number(new URL(sg.httpUrl).port);
  return rawSession(port, 20_000, (s) =>
    s.write(`GET /${path} HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nConnection: close\r\n\r\n`),
  );
}

for (const engine of ENGINES) {
  test(`${engine}: unsolicited 100, 102 and 103 are dropped and the final answer relayed`, {
    timeout: 90_000,
  }, async () => {
    const sg = running.get(engine);
    assert.ok(sg);
    for (const path of ["continue", "twoContinues", "processing", "earlyHints"]) {
      const r = await ask(sg, path);
      assert.match(r.reply, /^HTTP\/1\.1 200 /, `${path}: ${JSON.stringify(r.reply.slice(0, 160))}`);
      assert.equal((r.reply.match(/HTTP\/1\.1 \d{3}/g) ?? []).length, 1, `${path}: one status line`);
      assert.match(r.reply, /\r\nx-final: yes\r\n/i, path);
      assert.ok(r.reply.endsWith("\r\n\r\nfinal"), `${path}: ${JSON.stringify(r.reply)}`);
      const line = await sg.proc.waitForLine(
        `the access line of /${path}`,
        (l) => l.type === "access" && l.path === `/${path}`,
      );
      assert.equal(line.status, 200, path);
      assert.equal(line.error, null, `${path}: no upstream error recorded`);
      // The upstream connection that carried the 1xx is reused: its parser was left clean.
      const at = upstream.seen.length;
      const next = await ask(sg, "ok");
      assert.ok(next.reply.endsWith("\r\n\r\nok"), JSON.stringify(next.reply));
      assert.equal(upstream.seen[at]?.conn, upstream.seen[at - 1]?.conn, `${path}: connection reused`);
    }
  });
}
