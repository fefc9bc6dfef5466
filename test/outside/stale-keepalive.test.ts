// An upstream that closes a kept-alive connection just as shardgate sends the next request on
// it (its idle timeout ran out in between), tried from the outside: a real shardgate process,
// one member, a raw TCP upstream that answers the first request of each connection and closes
// (FIN, no answer) when a later one arrives. Found: a GET was a 502 upstream_reset on both
// engines: a reset is retried only on the next distinct member, and a one-member pool has
// none (a larger pool moved the key for it). Now a replayable request that failed that way is
// retried on the same member over a fresh connection (proxy/forward/stale-connection.ts), as
// Go's net/http does; a POST whose body went out is still never replayed (kept as a guard).

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { after, before, test } from "node:test";
import { ENGINES, startPerEngine } from "../support/per-engine.js";
import { rawSession } from "../support/raw-socket.js";
import { type ScriptedUpstream, startScriptedUpstream } from "../support/scripted-upstream.js";
import { type RunningShardgate, stopAll } from "../support/shardgate-process.js";

/** Answers per upstream connection: the first is answered (kept alive), a later one closes it. */
const answered = new WeakSet<Socket>();
function firstOnly(s: Socket): void {
  if (answered.has(s)) {
    s.end();
    return;
  }
  answered.add(s);
  s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok");
}

let upstream: ScriptedUpstream;
const running = new Map<string, RunningShardgate>();

before(async () => {
  upstream = await startScriptedUpstream({ ok: firstOnly });
  for (const [engine, sg] of await startPerEngine(upstream.port, [
    "timeouts: { response: 10s }",
    "breaker: { consecutiveFailures: 1000, minRequests: 1000 }",
  ]))
    running.set(engine, sg);
});

after(async () => {
  await stopAll();
  await upstream.close();
});

function ask(sg: RunningShardgate, method: string, path: string, body = "") {
  const port = Number(new URL(sg.httpUrl).port);
  return rawSession(port, 20_000, (s) =>
    s.write(
      `${method} ${path} HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nConnection: close\r\n` +
        `Content-Length: ${body.length}\r\n\r\n${body}`,
    ),
  );
}

for (const engine of ENGINES) {
  test(`${engine}: a GET on a kept-alive connection the upstream just closed is retried on a fresh one`, {
    timeout: 90_000,
  }, async () => {
    const sg = running.get(engine);
    assert.ok(sg);
    // Opens an upstream connection and leaves it idle in shardgate's pool.
    assert.match((await ask(sg, "GET", "/first")).reply, /^HTTP\/1\.1 200 /);
    const before = upstream.seen.length;
    const r = await ask(sg, "GET", "/again");
    assert.match(r.reply, /^HTTP\/1\.1 200 /, JSON.stringify(r.reply.slice(0, 200)));
    assert.ok(r.reply.endsWith("\r\n\r\nok"));
    const tries = upstream.seen.slice(before);
    assert.equal(tries.length, 2, "sent twice: on the kept-alive connection, then on a fresh one");
    assert.notEqual(tries[0].conn, tries[1].conn);
    const line = await sg.proc.waitForLine(
      "the access line of /again",
      (l) => l.type === "access" && l.path === "/again",
    );
    assert.equal(line.status, 200);
    assert.equal(line.attempts, 2);
    assert.equal(line.member, "m1");

    // A POST whose body went out on the closed connection is not replayed.
    assert.match((await ask(sg, "GET", "/warm")).reply, /^HTTP\/1\.1 200 /);
    const post = await ask(sg, "POST", "/post", "abc");
    assert.match(post.reply, /^HTTP\/1\.1 502 /, JSON.stringify(post.reply.slice(0, 200)));
    assert.match(post.reply, /"error":"upstream_reset"/);
  });
}
