// From outside, against a real shardgate: the data port's own error answers carry the request
// id, and a client may choose it (X-Request-Id, propagated when it is 1-128 visible ASCII
// characters, `<` and `>` included). The JSON body must not carry it as markup: `<`, `>`, `&`
// are \u003c-escaped (as the admin API's answers), and the body still parses back to the exact
// id, which the X-Request-Id answer header also repeats.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { freePorts } from "../support/ports.js";
import { startShardgate, stopAll } from "../support/shardgate-process.js";

after(stopAll);

test("a client's request id comes back in error bodies escaped, never as markup", async (t) => {
  // Nothing listens on it: a port freePorts found free, left unbound.
  const [port] = await freePorts(1);
  const sg = await startShardgate(`listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
log: { level: info, accessLog: false }
pools:
  api:
    members: [{ id: gone, address: "127.0.0.1:${port}" }]
routes:
  - match: { pathPrefix: /api }
    pool: api
    key: [header:x-user-id]
`);
  t.after(() => sg.stop());
  const ids = [`<svg/onload=alert(1)>`, `</script><script>alert(2)</script>`, `x&lt;y"'`];
  // No route: 404. The one member refuses connections: 502, then 503 once it is skipped.
  for (const [path, statuses] of [
    ["/elsewhere", [404]],
    ["/api/x", [502, 503]],
  ] as const) {
    for (const id of ids) {
      const r = await fetch(`${sg.httpUrl}${path}`, { headers: { "x-request-id": id, "x-user-id": "u1" } });
      const text = await r.text();
      const what = `${path} with request id ${id}: ${r.status} ${text}`;
      assert.ok((statuses as readonly number[]).includes(r.status), what);
      assert.match(r.headers.get("content-type") ?? "", /^application\/json/, what);
      assert.doesNotMatch(text, /[<>&]/, what);
      const body = JSON.parse(text) as { error: string; requestId: string };
      assert.equal(body.requestId, id, what);
      assert.equal(r.headers.get("x-request-id"), id, what);
    }
  }
});
