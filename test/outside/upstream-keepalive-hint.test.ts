// The upstream's Keep-Alive timeout hint on the http-proxy engine (SHARDGATE_ENGINE=http-proxy,
// and members behind TLS), tried from the outside: a real shardgate process, one member, a raw
// TCP upstream. An answer says "Keep-Alive: timeout=1" (in first or later position), then the
// upstream keeps the socket open but never answers on it again, as a server closing it at 1 s
// would; a POST sent next (never replayed) must go on a new connection and succeed. Found: the
// POST went out on the old connection (a 504 here, a 502 against a server that closes): the
// response path clears Keep-Alive as hop-by-hop before Node's Agent reads the hint (and Node
// reads it only when timeout= comes first). The undici engine already honoured both (its
// keepAliveTimeoutThreshold, 2 s, is taken off the hint).

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { type ScriptedUpstream, startScriptedUpstream } from "../support/scripted-upstream.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

/** Upstream connections that announced a short timeout: later requests on one go unanswered. */
const ended = new WeakSet<Socket>();
function announce(keepAlive: string): (s: Socket) => void {
  return (s) => {
    if (ended.has(s)) return;
    ended.add(s);
    s.write(
      `HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: ${keepAlive}\r\ncontent-length: 2\r\n\r\nok`,
    );
  };
}

let upstream: ScriptedUpstream;
let sg: RunningShardgate;

before(async () => {
  upstream = await startScriptedUpstream({
    ok: (s) => {
      if (!ended.has(s)) s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    },
    ka1: announce("timeout=1"),
    ka1late: announce("max=100, timeout=1"),
  });
  sg = await startShardgate(
    `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:${upstream.port}" }]
    timeouts: { response: 5s }
    breaker: { consecutiveFailures: 1000, minRequests: 1000 }
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`,
    { env: { SHARDGATE_ENGINE: "http-proxy" } },
  );
});

after(async () => {
  await stopAll();
  await upstream.close();
});

/** Sends each request on one kept-alive client connection after the previous answer is complete. */
function inTurn(requests: string[]): Promise<string[]> {
  const port = Number(new URL(sg.httpUrl).port);
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    const answers: string[] = [];
    let buf = "";
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(buf === "" ? answers : [...answers, buf]);
    };
    const timer = setTimeout(done, 20_000);
    s.on("error", () => {});
    s.on("close", done);
    s.on("data", (d) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? "0");
      if (buf.length < end + 4 + len) return;
      answers.push(buf.slice(0, end + 4 + len));
      buf = buf.slice(end + 4 + len);
      if (answers.length < requests.length) s.write(requests[answers.length]);
      else done();
    });
    s.write(requests[0]);
  });
}

const POST = "POST /ok HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\nContent-Length: 3\r\n\r\nabc";

for (const script of ["ka1", "ka1late"])
  test(`after Keep-Alive ${script === "ka1" ? "timeout=1" : "max=100, timeout=1"} the next POST goes on a new connection`, {
    timeout: 60_000,
  }, async () => {
    const before = upstream.seen.length;
    const answers = await inTurn([`GET /${script} HTTP/1.1\r\nHost: a\r\nx-user-id: k\r\n\r\n`, POST]);
    const note = JSON.stringify(answers);
    assert.equal(answers.length, 2, note);
    assert.match(answers[0], /^HTTP\/1\.1 200 /, note);
    assert.doesNotMatch(answers[0].slice(0, answers[0].indexOf("\r\n\r\n")), /timeout=1|max=100/i, note);
    assert.match(answers[1], /^HTTP\/1\.1 200 /, note);
    const tries = upstream.seen.slice(before);
    assert.equal(tries.length, 2, JSON.stringify(tries));
    assert.notEqual(tries[0].conn, tries[1].conn, "the POST went on a new upstream connection");
  });
