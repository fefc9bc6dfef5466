// An upstream that answers 101 Switching Protocols to a plain GET (no Upgrade offered), tried
// from the outside on both engines: a real shardgate process in front of a raw TCP upstream.
// Found: undici reported it as upstream_reset, "closed the connection before answering" (the
// operator looks at the wrong thing); Node's http client (engine http-proxy) dropped the
// socket without an error and the client waited out the whole response timeout for a 504
// upstream_timeout. Now both answer 502 upstream_bad_response at once
// (proxy/forward/unasked-upgrade.ts), the bytes after the 101 never reach the client, the
// client's connection goes on to its next request, and that upstream connection is not reused.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startPerEngine } from "../support/per-engine.js";
import { rawSession } from "../support/raw-socket.js";
import { type Script, type ScriptedUpstream, startScriptedUpstream } from "../support/scripted-upstream.js";
import { type RunningShardgate, stopAll } from "../support/shardgate-process.js";

/** Far above any answer here: an attempt that waits for it shows as a 504. */
const RESPONSE_MS = 30_000;

const ANSWERS: Record<string, Script> = {
  ok: (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
  switched: (s) =>
    s.write(
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\nNOT-HTTP-BYTES",
    ),
};

let upstream: ScriptedUpstream;
const engines: Record<string, { sg: RunningShardgate; port: number }> = {};

before(async () => {
  upstream = await startScriptedUpstream(ANSWERS);
  const running = await startPerEngine(upstream.port, [
    `timeouts: { response: ${RESPONSE_MS}ms }`,
    "retry: { attempts: 1 }",
    "breaker: { consecutiveFailures: 1000, minRequests: 1000 }",
  ]);
  for (const [engine, sg] of running) engines[engine] = { sg, port: Number(new URL(sg.httpUrl).port) };
});

after(async () => {
  await stopAll();
  await upstream.close();
});

for (const engine of ["undici", "http-proxy"]) {
  test(`${engine}: a 101 to a request that offered no upgrade is 502 upstream_bad_response at once`, {
    timeout: 120_000,
  }, async () => {
    const { sg, port } = engines[engine];
    // Both requests on one client connection: the second shows the connection was not desynced.
    const r = await rawSession(port, RESPONSE_MS / 2, (s) =>
      s.write(
        "GET /switched HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\n\r\n" +
          "GET /ok HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nConnection: close\r\n\r\n",
      ),
    );
    assert.ok(r.closedByPeer, `answered before ${RESPONSE_MS / 2} ms: ${JSON.stringify(r.reply)}`);
    assert.match(r.reply, /^HTTP\/1\.1 502 /, JSON.stringify(r.reply.slice(0, 200)));
    assert.match(r.reply, /"error":"upstream_bad_response"/, JSON.stringify(r.reply.slice(0, 300)));
    assert.doesNotMatch(r.reply, /NOT-HTTP-BYTES|101 Switching/i, "nothing of the 101 reaches the client");
    assert.ok(r.reply.endsWith("\r\n\r\nok"), `the next request is answered: ${JSON.stringify(r.reply)}`);
    const line = await sg.proc.waitForLine(
      `the access line of /switched (${engine})`,
      (l) => l.type === "access" && l.path === "/switched",
    );
    assert.equal(line.status, 502);
    assert.equal(line.error, "upstream_bad_response");
    const at = upstream.seen.map((x) => x.path).lastIndexOf("switched");
    const next = upstream.seen.slice(at + 1).find((x) => x.path === "ok");
    assert.ok(next !== undefined, "the next request reached the upstream");
    assert.notEqual(next.conn, upstream.seen[at].conn, "the connection that switched is not reused");
  });
}
