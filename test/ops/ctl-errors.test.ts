// `shardgate ctl`'s errors keep the admin API's code: a refusal carries the API's `error`
// unchanged, a refused token is `unauthorized`, an answer without a code is `http_NNN`, and
// an admin port nobody listens on is `unreachable`. Real HTTP on loopback.

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { AdminClient, CtlError } from "../../proxy/ctl/admin-client.js";
import { COMMANDS } from "../../proxy/ctl/commands.js";
import { freePorts } from "../support/ports.js";

test("ctl errors carry the admin API's code, not just its words", async (t) => {
  const server = http.createServer((req, res) => {
    if (req.url === "/admin/state") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ pools: { users: { members: [] } } }));
    } else if (req.url === "/coded") {
      res.writeHead(409, { "content-type": "application/json" });
      // A message that reads like another error changes nothing: the code is what counts.
      res.end(JSON.stringify({ error: "breaker_disabled", message: "unknown pool, not committed" }));
    } else if (req.url === "/token") {
      res.writeHead(401);
      res.end();
    } else {
      res.writeHead(502, { "content-type": "text/plain" });
      res.end("bad gateway");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const c = new AdminClient(base, "");
  const codeOf = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => assert.fail("expected a CtlError"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CtlError, String(err));
    return [err.code, err.name];
  };
  assert.deepEqual(await codeOf(c.ok("POST", "/coded", [])), ["breaker_disabled", "CtlError"]);
  assert.deepEqual(await codeOf(c.ok("GET", "/token", [])), ["unauthorized", "CtlError"]);
  assert.deepEqual(await codeOf(c.ok("GET", "/other", [])), ["http_502", "CtlError"]);
  const members = COMMANDS.members;
  assert.ok(members, "the members command exists");
  assert.deepEqual(await codeOf(members.run({ clients: [c] }, ["nope"])), ["unknown_pool", "CtlError"]);
  const [closed] = await freePorts(1);
  const gone = new AdminClient(`http://127.0.0.1:${closed}`, "");
  assert.deepEqual(await codeOf(gone.ok("GET", "/admin/state", [])), ["unreachable", "CtlError"]);
});
