// The dead-session sweep (proxy/server/h2-dead-session.ts) calls Node's internal
// hasPendingData() from a once-a-second interval. A throw there, uncaught, would end the process.
// Here one real session's native handle is given a hasPendingData that throws: the sweep must
// note it once (at warn), leave that session open (to the idle timeout), and keep
// its interval running, so that a second session whose handle reports "done" is still found.

import assert from "node:assert/strict";
import { connect, createServer, type Http2Session, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { DEAD_SESSION_SWEEP_MS, DeadSessionSweep } from "../../proxy/server/h2-dead-session.js";
import { useInternalsLogger } from "../../proxy/server/node-internals.js";
import { waitFor } from "../support/wait.js";

type Handle = { hasPendingData: () => boolean };

function handleOf(session: Http2Session): Handle {
  const key = Object.getOwnPropertySymbols(session).find((s) => s.description === "kHandle");
  assert.ok(key !== undefined, "this Node's sessions carry kHandle");
  return (session as unknown as Record<symbol, Handle>)[key];
}

test("h2 dead-session sweep: a throwing hasPendingData is noted once, the interval and the process survive", async () => {
  const warnings: object[] = [];
  useInternalsLogger({ debug() {}, info() {}, warn: (o) => warnings.push(o), error() {} });
  const sessions: ServerHttp2Session[] = [];
  const found: ServerHttp2Session[] = [];
  let calls = 0;
  const sweep = new DeadSessionSweep<ServerHttp2Session>(
    () => sessions,
    (s) => {
      found.push(s);
      s.destroy();
    },
  );
  const server = createServer();
  server.on("session", (s) => {
    sessions.push(s);
    sweep.watch(s);
  });
  server.on("stream", (st) => {
    st.respond({ ":status": 200 });
    st.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const first = connect(url);
  const second = connect(url);
  first.on("error", () => {});
  second.on("error", () => {});
  const get = (client: ReturnType<typeof connect>): Promise<number> =>
    new Promise((resolve, reject) => {
      const r = client.request({ ":path": "/" });
      r.on("response", (h) => {
        r.resume();
        r.on("end", () => resolve(Number(h[":status"])));
      });
      r.on("error", reject);
    });
  try {
    assert.equal(await get(first), 200);
    assert.equal(await get(second), 200);
    assert.equal(sessions.length, 2);
    const [throwing, done] = sessions as [ServerHttp2Session, ServerHttp2Session];
    handleOf(throwing).hasPendingData = () => {
      calls++;
      throw new Error("injected: the handle was torn down");
    };
    await waitFor(() => calls >= 3, "three sweeps over the throwing handle", DEAD_SESSION_SWEEP_MS * 10, 20);
    assert.deepEqual(found, [], "a session whose handle threw is not handed over as dead");
    // Not asked to serve now: Node's own kMaybeDestroy calls the method when a stream closes.
    assert.equal(throwing.destroyed, false, "the session whose handle threw is left open");
    handleOf(done).hasPendingData = () => false;
    await waitFor(
      () => found.length === 1,
      "the interval, still running, finds the done session",
      DEAD_SESSION_SWEEP_MS * 10,
      20,
    );
    assert.equal(found[0], done);
    const noted = warnings.filter(
      (w) => (w as { internal?: string }).internal === "Http2Session[kHandle].hasPendingData",
    );
    assert.equal(noted.length, 1, `noted once after ${calls} throws: ${JSON.stringify(warnings)}`);
    assert.match(String((noted[0] as { err?: unknown }).err), /injected/);
  } finally {
    sweep.close();
    // Node calls the method itself while closing a session: the prototype's comes back first.
    for (const s of sessions) if (!s.destroyed) delete (handleOf(s) as Partial<Handle>).hasPendingData;
    first.destroy();
    second.destroy();
    for (const s of sessions) s.destroy();
    await new Promise((r) => server.close(r));
  }
});
