// Tried from the outside, both engines: a member's answer whose Connection header names
// X-Request-Id (RFC 9110 7.6.1: that field is then hop-by-hop and is not relayed). The client
// must still get the request's id, as README promises ("echoed on the response"). The
// http-proxy engine dropped the member's field and added the request's id; the undici engine's
// responseHead (undici-head.ts) noted "the member sent one" before the Connection-named fields
// were taken out, so after removing it added none: the answer carried no x-request-id at all.
// A real shardgate per engine (SHARDGATE_ENGINE), a real node:http member, fetch on loopback.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ENGINES, type Engine, type PerEngineBehind, startPerEngineBehind } from "../support/per-engine.js";
import { type RunningShardgate, stopAll } from "../support/shardgate-process.js";

let behind: PerEngineBehind | undefined;
let running: Map<Engine, RunningShardgate>;

before(async () => {
  behind = await startPerEngineBehind((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, {
        connection: "keep-alive, x-request-id, x-hop",
        "x-request-id": "member-own-id",
        "x-hop": "1",
        "x-kept": "2",
        "content-type": "text/plain",
        "content-length": 2,
      });
      res.end("ok");
    });
  });
  running = behind.running;
});

after(async () => {
  await stopAll();
  await behind?.closeUpstream();
});

for (const engine of ENGINES) {
  test(`${engine}: a member's X-Request-Id named in its Connection header is replaced by the request's id`, async () => {
    const sg = running.get(engine);
    assert.ok(sg, `${engine} shardgate started`);
    for (const given of ["client-id-1", null]) {
      const headers: Record<string, string> = { "x-user-id": "u1" };
      if (given !== null) headers["x-request-id"] = given;
      const r: Response = await fetch(`${sg.httpUrl}/a`, { headers });
      assert.equal(await r.text(), "ok");
      assert.equal(r.status, 200);
      const id = r.headers.get("x-request-id");
      assert.ok(id !== null, `${engine}: no x-request-id on the answer (client sent ${given ?? "none"})`);
      assert.notEqual(id, "member-own-id", `${engine}: the member's hop-by-hop X-Request-Id was relayed`);
      if (given !== null) assert.equal(id, given, `${engine}: the client's id is echoed`);
      else assert.match(id, /^[0-9a-f]{12}-[0-9a-z]+$/, `${engine}: a generated id`);
      // The other Connection-named field is gone, the rest kept.
      assert.equal(r.headers.get("x-hop"), null);
      assert.equal(r.headers.get("x-kept"), "2");
    }
  });
}
