// proxy/app/descriptor-limits.ts, a second accept failure after the listener listened again.
// The pause armed a one-shot 'error' handler for its re-listen; when the re-listen succeeded that
// handler stayed on the server, so the next accept failure (another streak at the limit, minutes
// later) also logged "could not listen again after its accept failed; restart the instance": an
// error telling the operator to restart an instance that had recovered, and one more stale handler
// per successful pause. The event is emitted with the shape Node gives it, as in
// descriptor-limits.test.ts (the state cannot be forced from a test); the listener is real.

import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { probeDescriptorLimits } from "../support/descriptor-limits-probe.js";
import { eventually } from "../support/wait.js";

function get(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

const emfile = () =>
  Object.assign(new Error("accept EMFILE"), { code: "EMFILE", errno: -24, syscall: "accept" });

test("a listener that listened again after an accept error says nothing about a failed re-listen at its next accept error", async (t) => {
  const server = createServer((_req, res) => res.end("ok"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { limits, errors } = probeDescriptorLimits(() => 0);
  t.after(() => limits.stop());
  limits.watch(server, "listen.http");
  const baseline = server.listenerCount("error");

  server.emit("error", emfile());
  assert.equal(server.listening, false, "stops accepting");
  await eventually("listening again", () => (server.listening ? true : undefined));
  assert.equal(await get(port), 200, "a new client is served after the re-listen");
  assert.equal(
    server.listenerCount("error"),
    baseline,
    "no handler of the finished re-listen is left on the server",
  );

  // A later streak at the limit: counted, paused again, and no word of a re-listen that failed.
  server.emit("error", emfile());
  assert.equal(limits.view().exhausted, 2);
  assert.deepEqual(errors, [], "no error logged: the first re-listen succeeded");
  await eventually("listening again after the second pause", () => (server.listening ? true : undefined));
  assert.equal(await get(port), 200);
  assert.deepEqual(errors, []);
});
