// proxy/app/descriptor-limits.ts on a real listener. Node reports a failed accept (EMFILE) as an
// 'error' event on the net.Server only when libuv's spare descriptor is gone too, and libuv then
// calls back again at once in a loop that never yields while the limit lasts; that state cannot
// be forced from a test (it needs another thread to take the spare's number in the instant
// libuv has it closed), so the event is emitted here with the shape Node gives it. Without a
// listener it was an uncaught exception (the process exited); with a bare listener libuv's loop
// would spin. The handler counts and logs it, stops accepting (requests in flight go on; idle
// keep-alive connections are closed, freeing their descriptors), and listens again on the same
// address, where new clients are served.

import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { probeDescriptorLimits } from "../support/descriptor-limits-probe.js";
import { eventually } from "../support/wait.js";

function get(port: number, path = "/"): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

test("an accept error at the descriptor limit is counted and logged, the listener pauses and listens again, requests in flight go on", async (t) => {
  // /slow waits for `release`: a request in flight across the pause.
  let release = (): void => {};
  const released = new Promise<void>((r) => {
    release = r;
  });
  let slowArrived = (): void => {};
  const arrived = new Promise<void>((r) => {
    slowArrived = r;
  });
  const server = createServer((req, res) => {
    if (req.url !== "/slow") return void res.end("ok");
    slowArrived();
    void released.then(() => res.end("ok"));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { limits, warnings, counted } = probeDescriptorLimits(() => 1);
  t.after(() => limits.stop());
  limits.watch(server, "listen.http");
  const slow = get(port, "/slow");
  await arrived;

  const err = Object.assign(new Error("accept EMFILE"), { code: "EMFILE", errno: -24, syscall: "accept" });
  server.emit("error", err);
  assert.equal(server.listening, false, "stops accepting");
  release();
  assert.equal(await slow, 200, "a request in flight is answered");
  assert.deepEqual(
    { op: limits.view().last?.op, code: limits.view().last?.code, exhausted: limits.view().exhausted },
    { op: "accept", code: "EMFILE", exhausted: 1 },
  );
  assert.equal(await counted(), 1);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0].op, "accept");
  assert.equal(warnings[0].openConnections, 1);

  await eventually("listening again", () => (server.listening ? true : undefined));
  assert.equal((server.address() as AddressInfo).port, port, "on the same port");
  assert.equal(await get(port), 200, "a new client is served");
});
