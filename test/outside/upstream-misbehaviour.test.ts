// A misbehaving upstream, tried from the outside: a real shardgate process in front of a raw
// TCP upstream that answers each path its own way. Found:
// - a 304 Not Modified carrying the Content-Length its 200 would have had (RFC 9110 section
//   8.6 allows it; ASP.NET MVC, many Java stacks send it) reached the client as an empty reply
//   and was logged (and counted by the breaker) as upstream_reset: undici 7 held the missing
//   body bytes against that length. A 204 wrongly carrying one met the same. Now both are
//   relayed as the complete responses they are (proxy/forward/undici-attempt.ts).
// - an invalid status line, two Content-Lengths, a header section of 100 KB and a head with a
//   NUL were 502 upstream_reset, "closed the connection before answering": the operator looked
//   at the wrong thing. Now 502 upstream_bad_response (retried and counted as a reset still).
// What held, kept here as guards: a body longer
// than its Content-Length is cut at the length and that connection is not reused; a body
// shorter than its Content-Length reaches the client cut with the connection closed (never
// as a complete response); no answer at all is 504 upstream_timeout.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { rawSession } from "../support/raw-socket.js";
import { type Script, type ScriptedUpstream, startScriptedUpstream } from "../support/scripted-upstream.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

/** How the upstream answers the request for `/<name>`. */
const ANSWERS: Record<string, Script> = {
  ok: (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
  notModified: (s) => s.write('HTTP/1.1 304 Not Modified\r\netag: "v1"\r\ncontent-length: 1234\r\n\r\n'),
  noContentWithLength: (s) => s.write("HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n"),
  badStatus: (s) => s.write("HTTP/1.1 abc OK\r\ncontent-length: 2\r\n\r\nhi"),
  twoLengths: (s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 5\r\n\r\nhello"),
  hugeHead: (s) => s.write(`HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(100_000)}\r\ncontent-length: 2\r\n\r\nok`),
  nulInHead: (s) => s.write("HTTP/1.1 200 OK\r\nx-a: b\x00c\r\ncontent-length: 2\r\n\r\nok"),
  longer: (s) =>
    s.write(
      "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nsmuggled",
    ),
  shorter: (s) => {
    s.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly-this");
    setTimeout(() => s.end(), 100);
  },
  silent: () => {},
};

let upstream: ScriptedUpstream;
let upstreamPort = 0;
let sg: RunningShardgate;
let port = 0;

before(async () => {
  upstream = await startScriptedUpstream(ANSWERS);
  upstreamPort = upstream.port;
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: true }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:${upstreamPort}" }]
    timeouts: { response: 2s }
    retry: { attempts: 1 }
    breaker: { consecutiveFailures: 1000, minRequests: 1000 }
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`);
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  await upstream.close();
});

/** One request on its own client connection, asking to close after it. */
function ask(path: string) {
  return rawSession(port, 15_000, (s) =>
    s.write(`GET /${path} HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nConnection: close\r\n\r\n`),
  );
}

async function accessLine(path: string): Promise<Record<string, unknown>> {
  return sg.proc.waitForLine(
    `the access line of /${path}`,
    (l) => l.type === "access" && l.path === `/${path}`,
  );
}

test("304 and 204 with a Content-Length are relayed whole, not failed", { timeout: 60_000 }, async () => {
  for (const [path, status, length] of [
    ["notModified", 304, "1234"],
    ["noContentWithLength", 204, "5"],
  ] as const) {
    const r = await ask(path);
    assert.match(
      r.reply,
      new RegExp(`^HTTP/1\\.1 ${status} `),
      `${path}: ${JSON.stringify(r.reply.slice(0, 120))}`,
    );
    assert.match(r.reply, new RegExp(`\\r\\ncontent-length: ${length}\\r\\n`, "i"), path);
    assert.ok(r.reply.endsWith("\r\n\r\n"), `${path}: a head and no body`);
    const line = await accessLine(path);
    assert.equal(line.status, status, path);
    assert.equal(line.error, null, `${path}: no upstream error recorded (the breaker counts none)`);
  }
  assert.match((await ask("notModified")).reply, /\r\netag: "v1"\r\n/i, "the 304's validators are relayed");
});

test("broken heads are 502 upstream_bad_response; no answer is 504", { timeout: 90_000 }, async () => {
  for (const path of ["badStatus", "twoLengths", "hugeHead", "nulInHead"]) {
    const r = await ask(path);
    assert.match(r.reply, /^HTTP\/1\.1 502 /, `${path}: ${JSON.stringify(r.reply.slice(0, 120))}`);
    assert.match(r.reply, /"error":"upstream_bad_response"/, path);
  }
  const silent = await ask("silent");
  assert.match(silent.reply, /^HTTP\/1\.1 504 /, JSON.stringify(silent.reply.slice(0, 120)));
  assert.match(silent.reply, /"error":"upstream_timeout"/);
});

test("a body longer than its length is cut there and its connection not reused; a shorter one is cut", {
  timeout: 60_000,
}, async () => {
  const longer = await ask("longer");
  assert.match(longer.reply, /^HTTP\/1\.1 200 /);
  assert.ok(longer.reply.endsWith("\r\n\r\nhello"), JSON.stringify(longer.reply));
  const next = await ask("ok");
  assert.ok(
    next.reply.endsWith("\r\n\r\nok"),
    `the bytes past the length were not read as the next answer: ${JSON.stringify(next.reply)}`,
  );
  const at = upstream.seen.map((s) => s.path).lastIndexOf("longer");
  assert.notEqual(
    upstream.seen[at + 1]?.conn,
    upstream.seen[at].conn,
    "the next request went on another upstream connection",
  );

  const shorter = await ask("shorter");
  assert.match(shorter.reply, /^HTTP\/1\.1 200 /);
  assert.match(shorter.reply, /\r\ncontent-length: 100\r\n/i, "the client knows the length it did not get");
  assert.ok(shorter.reply.endsWith("only-this"), JSON.stringify(shorter.reply));
  assert.ok(shorter.closedByPeer, "the client connection is cut");
});
