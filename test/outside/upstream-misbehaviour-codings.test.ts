// Misbehaving upstreams, tried from the outside on both engines (undici and http-proxy-3): a
// real shardgate process in front of a raw TCP upstream that answers each path its own way.
// Found:
// - `Transfer-Encoding: gzip` (any coding list whose final coding is not chunked) was relayed
//   to the client as plain chunked: the client got gzip bytes it was not told about. RFC 9112
//   section 6.3 makes that body "read until close" in a coding the proxy cannot relay as is;
//   now (as nginx) 502 upstream_bad_response before the first byte, the upstream connection
//   not reused, counted by the breaker as a reset.
// - on the http-proxy-3 engine, stray bytes after a complete response, or a 204 with a body,
//   gave the client an empty reply: Node's client parser failed on the extra bytes after the
//   response was handed over. Now the complete response reaches the client and that upstream
//   connection is not reused.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startPerEngine } from "../support/per-engine.js";
import { rawSession } from "../support/raw-socket.js";
import { type Script, type ScriptedUpstream, startScriptedUpstream } from "../support/scripted-upstream.js";
import { metricValue, type RunningShardgate, stopAll } from "../support/shardgate-process.js";

/** How the upstream answers the request for `/<name>`. */
const ANSWERS: Record<string, Script> = {
  ok: (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
  gzipCoding: (s) => {
    s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n\x1f\x8b\x08\x00raw-gzip-bytes");
    setTimeout(() => s.end(), 50);
  },
  chunkedThenGzip: (s) => {
    s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    setTimeout(() => s.end(), 50);
  },
  gzipChunked: (s) =>
    s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
  trailingBytes: (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloSTRAY-BYTES"),
  noContentWithBody: (s) => s.write("HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\nbody-of-a-204"),
};

let upstream: ScriptedUpstream;
const engines: Record<string, { sg: RunningShardgate; port: number }> = {};

before(async () => {
  upstream = await startScriptedUpstream(ANSWERS);
  const running = await startPerEngine(upstream.port, [
    "timeouts: { response: 5s }",
    "retry: { attempts: 1 }",
    "breaker: { consecutiveFailures: 1000, minRequests: 1000 }",
  ]);
  for (const [engine, sg] of running) engines[engine] = { sg, port: Number(new URL(sg.httpUrl).port) };
});

after(async () => {
  await stopAll();
  await upstream.close();
});

/** One request on its own client connection, asking to close after it. */
function ask(engine: string, path: string) {
  return rawSession(engines[engine].port, 15_000, (s) =>
    s.write(`GET /${path} HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nConnection: close\r\n\r\n`),
  );
}

function accessLine(engine: string, path: string): Promise<Record<string, unknown>> {
  return engines[engine].sg.proc.waitForLine(
    `the access line of /${path} (${engine})`,
    (l) => l.type === "access" && l.path === `/${path}`,
  );
}

/** Asserts the request after `path` went on another upstream connection than `path` did. */
function assertNotReused(path: string, what: string): void {
  const at = upstream.seen.map((s) => s.path).lastIndexOf(path);
  assert.ok(at >= 0 && at + 1 < upstream.seen.length, `${what}: a request followed`);
  assert.notEqual(
    upstream.seen[at + 1].conn,
    upstream.seen[at].conn,
    `${what}: the next request went on another upstream connection`,
  );
}

for (const engine of ["undici", "http-proxy"]) {
  test(`${engine}: a transfer coding list not ending in chunked is 502 upstream_bad_response`, {
    timeout: 90_000,
  }, async () => {
    for (const path of ["gzipCoding", "chunkedThenGzip"]) {
      const r = await ask(engine, path);
      const what = `${engine} ${path}: ${JSON.stringify(r.reply.slice(0, 200))}`;
      assert.match(r.reply, /^HTTP\/1\.1 502 /, what);
      assert.match(r.reply, /"error":"upstream_bad_response"/, what);
      assert.doesNotMatch(r.reply, /raw-gzip-bytes|hello/, `${what}: no upstream byte relayed`);
      const line = await accessLine(engine, path);
      assert.equal(line.status, 502, what);
      assert.equal(line.error, "upstream_bad_response", what);
      const next = await ask(engine, "ok");
      assert.ok(next.reply.endsWith("\r\n\r\nok"), `${engine}: after ${path}: ${JSON.stringify(next.reply)}`);
      assertNotReused(path, `${engine} ${path}`);
    }
    // Counted against the member as resets, as the breaker counts other bad responses.
    const metrics = await (await fetch(`${engines[engine].sg.adminUrl}/metrics`)).text();
    const resets = metricValue(metrics, "shardgate_upstream_errors_total", {
      pool: "users",
      member: "m1",
      kind: "reset",
    });
    assert.equal(
      resets,
      2,
      `${engine}: ${metrics
        .split("\n")
        .filter((l) => l.includes("upstream_errors"))
        .join("\n")}`,
    );
    // The final coding chunked is relayed (chunked re-framed by Node, gzip named to the client).
    const r = await ask(engine, "gzipChunked");
    assert.match(r.reply, /^HTTP\/1\.1 200 /, `${engine}: ${JSON.stringify(r.reply)}`);
    assert.match(r.reply, /hello/, engine);
  });

  test(`${engine}: stray bytes after a complete response and a 204 with a body: the response is relayed`, {
    timeout: 90_000,
  }, async () => {
    const stray = await ask(engine, "trailingBytes");
    assert.match(stray.reply, /^HTTP\/1\.1 200 /, `${engine}: ${JSON.stringify(stray.reply)}`);
    assert.ok(
      stray.reply.endsWith("\r\n\r\nhello") || /\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/.test(stray.reply),
      JSON.stringify(stray.reply),
    );
    assert.doesNotMatch(stray.reply, /STRAY/);
    const next = await ask(engine, "ok");
    assert.ok(
      next.reply.endsWith("\r\n\r\nok"),
      `${engine}: after trailingBytes: ${JSON.stringify(next.reply)}`,
    );
    assertNotReused("trailingBytes", `${engine} trailingBytes`);

    const nc = await ask(engine, "noContentWithBody");
    assert.match(nc.reply, /^HTTP\/1\.1 204 /, `${engine}: ${JSON.stringify(nc.reply)}`);
    assert.match(nc.reply, /\r\nx-a: 1\r\n/i, engine);
    assert.ok(nc.reply.endsWith("\r\n\r\n"), `${engine}: a head and no body: ${JSON.stringify(nc.reply)}`);
    const line = await accessLine(engine, "noContentWithBody");
    assert.equal(line.status, 204, engine);
    const after204 = await ask(engine, "ok");
    assert.ok(
      after204.reply.endsWith("\r\n\r\nok"),
      `${engine}: after the 204: ${JSON.stringify(after204.reply)}`,
    );
    assertNotReused("noContentWithBody", `${engine} noContentWithBody`);
  });
}
