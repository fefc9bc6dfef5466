// SIGTERM with ordinary requests still waiting on a slow member, tried from the outside: a real
// shardgate process per engine, a member that holds /slow without answering and sends /stream's
// head and first bytes and then nothing, and a short --drain-timeout.
// Found: at the drain deadline the request waiting for its head was logged (and, when its
// connection was still there, answered) as the member's reset, 502 upstream_reset, and counted
// against the member (upstream_errors_total, the breaker and outlier figures), though
// shardgate's own shutdown cut it; the client got a closed connection and no answer. Now it is
// answered 503 shutting_down before its connection closes, and both requests' access lines say
// shutting_down: the one whose head was sent keeps its 200.

import assert from "node:assert/strict";
import { createServer, request as httpRequest, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { ENGINES } from "../support/per-engine.js";
import { startShardgate, stopAll } from "../support/shardgate-process.js";
import { eventually, scaled } from "../support/wait.js";

const DRAIN_MS = 600;

const held: ServerResponse[] = [];
const member = createServer((req, res) => {
  req.resume();
  if (req.url === "/stream") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("first bytes ");
  }
  held.push(res);
});

after(async () => {
  await stopAll();
  for (const res of held.splice(0)) res.destroy();
  member.closeAllConnections();
  await new Promise((r) => member.close(r));
});

interface Outcome {
  status: number;
  body: string;
  /** How the exchange ended: "end" (the whole answer), "aborted" (cut mid-body) or "error" (no answer). */
  ended: "end" | "aborted" | "error";
}

/** One GET through shardgate on its own connection; `headSeen` resolves once the answer's head came. */
function get(url: string, path: string): { outcome: Promise<Outcome>; headSeen: Promise<void> } {
  let seen: () => void = () => undefined;
  const headSeen = new Promise<void>((r) => (seen = r));
  const outcome = new Promise<Outcome>((resolve) => {
    const req = httpRequest(`${url}${path}`, { headers: { "x-user-id": "k" }, agent: false }, (res) => {
      seen();
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, ended: "end" }));
      res.on("aborted", () => resolve({ status: res.statusCode ?? 0, body, ended: "aborted" }));
      res.on("error", () => resolve({ status: res.statusCode ?? 0, body, ended: "aborted" }));
    });
    req.on("error", () => resolve({ status: 0, body: "", ended: "error" }));
    req.end();
  });
  return { outcome, headSeen };
}

for (const engine of ENGINES) {
  test(`${engine}: SIGTERM at the drain deadline answers a waiting request 503 shutting_down, never the member's reset`, {
    timeout: 120_000,
  }, async () => {
    if (!member.listening) await new Promise<void>((r) => member.listen(0, "127.0.0.1", () => r()));
    const port = (member.address() as AddressInfo).port;
    const sg = await startShardgate(
      `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: true }
pools:
  users:
    members: [{ id: m1, address: "127.0.0.1:${port}" }]
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`,
      { args: ["--drain-timeout", `${DRAIN_MS}ms`], env: { SHARDGATE_ENGINE: engine } },
    );
    const heldBefore = held.length;
    const slow = get(sg.httpUrl, "/slow");
    const stream = get(sg.httpUrl, "/stream");
    await stream.headSeen;
    await eventually("the member holds both requests", () =>
      held.length - heldBefore === 2 ? true : undefined,
    );

    sg.proc.signal("SIGTERM");
    const exit = await sg.proc.waitExit(scaled(20_000));
    assert.deepEqual(exit, { code: 0, signal: null }, sg.proc.output());

    const s = await slow.outcome;
    assert.equal(s.status, 503, `the waiting request's answer: ${JSON.stringify(s)}\n${sg.proc.output()}`);
    assert.equal(s.ended, "end");
    assert.equal(JSON.parse(s.body).error, "shutting_down");
    const st = await stream.outcome;
    assert.equal(st.status, 200);
    assert.equal(st.ended, "aborted", "the answer whose head was sent is cut, not ended as if whole");

    const access = (path: string) => sg.proc.lines.find((l) => l.type === "access" && l.path === path);
    const slowLine = access("/slow");
    assert.ok(slowLine !== undefined, `the cut request's access line is written\n${sg.proc.output()}`);
    assert.equal(slowLine.status, 503);
    assert.equal(slowLine.error, "shutting_down");
    const streamLine = access("/stream");
    assert.ok(streamLine !== undefined, `the cut stream's access line is written\n${sg.proc.output()}`);
    assert.equal(streamLine.status, 200, "the status sent stands");
    assert.equal(streamLine.error, "shutting_down");
  });
}
