// The dead-session sweep (proxy/server/h2-dead-session.ts) reaches Node's native session handle
// through the own symbol described "kHandle", found once per process. On a Node whose sessions
// carry no such symbol (stood for here by a session-shaped object without it, looked at first in
// this process), it must degrade: noted once as a missing internal, no interval started, nothing
// thrown, and a real HTTP/2 session afterwards left alone and served.

import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { connect, createServer, type Http2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { DEAD_SESSION_SWEEP_MS, DeadSessionSweep } from "../../proxy/server/h2-dead-session.js";
import { missingInternals } from "../../proxy/server/node-internals.js";

test("h2 dead-session sweep on a Node without the session handle: noted once, nothing thrown, sessions left alone", async () => {
  const found: Http2Session[] = [];
  const sessions = new Set<Http2Session>();
  const sweep = new DeadSessionSweep<Http2Session>(
    () => sessions,
    (s) => found.push(s),
  );
  const bare = Object.assign(new EventEmitter(), {
    closed: false,
    destroyed: false,
  }) as unknown as Http2Session;
  sessions.add(bare);
  assert.doesNotThrow(() => sweep.watch(bare));
  assert.ok(missingInternals().includes("Http2Session[kHandle].hasPendingData"), String(missingInternals()));

  const server = createServer();
  server.on("session", (s) => {
    sessions.add(s);
    assert.doesNotThrow(() => sweep.watch(s));
  });
  server.on("stream", (st) => {
    st.respond({ ":status": 200 });
    st.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  client.on("error", () => {});
  try {
    const get = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const r = client.request({ ":path": "/" });
        r.on("response", (h) => {
          r.resume();
          r.on("end", () => resolve(Number(h[":status"])));
        });
        r.on("error", reject);
      });
    assert.equal(await get(), 200);
    await new Promise((r) => setTimeout(r, DEAD_SESSION_SWEEP_MS * 2.5));
    assert.deepEqual(found, [], "no session handed over as dead");
    assert.equal(await get(), 200, "the session still serves");
  } finally {
    sweep.close();
    client.destroy();
    for (const s of sessions) if (s !== bare) s.destroy();
    await new Promise((r) => server.close(r));
  }
});
