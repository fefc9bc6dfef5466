// Hostile: protocol edges against a real shardgate process (issue 10, item 5): each answer
// is the RFC status (as nginx gives) with shardgate's JSON error, and the process keeps serving.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { portOf, rawAll } from "./hostile-support.js";

after(stopAll);

const HOST = "api.example.com";
const CASES: Array<[string, string, number, string]> = [
  ["CONNECT", `CONNECT ${HOST}:443 HTTP/1.1\r\nHost: ${HOST}:443\r\n\r\n`, 405, "method_not_allowed"],
  ["no Host", "GET / HTTP/1.1\r\nX-User-Id: k\r\n\r\n", 400, "invalid_host"],
  ["two Hosts", `GET / HTTP/1.1\r\nHost: ${HOST}\r\nHost: evil\r\nX-User-Id: k\r\n\r\n`, 400, "invalid_host"],
  ["userinfo Host", `GET / HTTP/1.1\r\nHost: ${HOST}:80@evil\r\nX-User-Id: k\r\n\r\n`, 400, "invalid_host"],
  ["HTTP/2.0", `GET / HTTP/2.0\r\nHost: ${HOST}\r\nX-User-Id: k\r\n\r\n`, 505, "http_version_not_supported"],
  [
    "Expect",
    `GET / HTTP/1.1\r\nHost: ${HOST}\r\nExpect: bogus\r\nX-User-Id: k\r\n\r\n`,
    417,
    "expectation_failed",
  ],
  ["20 KB URL", `GET /${"a".repeat(20_000)} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, 414, "uri_too_long"],
];

test("every protocol edge gets its status as JSON; h2c offers are served over HTTP/1.1", {
  timeout: 60_000,
}, async (t) => {
  const upstreams = await startUpstreams(1);
  t.after(() => closeAll(upstreams));
  const sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
pools:
  users:
    members: [{ id: ${upstreams[0].id}, address: "127.0.0.1:${upstreams[0].port}" }]
routes:
  - match: { host: ${HOST} }
    pool: users
    key: [header:x-user-id]
`);
  t.after(() => sg.stop());
  const port = portOf(sg.httpUrl);
  for (const [name, payload, status, code] of CASES) {
    const reply = await rawAll(port, payload);
    assert.match(
      reply,
      new RegExp(`^HTTP/1\\.1 ${status} `),
      `${name}: ${JSON.stringify(reply.slice(0, 100))}`,
    );
    assert.match(reply, /\r\ncontent-type: application\/json/i, name);
    assert.match(reply, new RegExp(`"error":"${code}"`), name);
  }
  const h2c = await rawAll(
    port,
    `GET /x HTTP/1.1\r\nHost: ${HOST}\r\nX-User-Id: k\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
  );
  assert.match(h2c, /^HTTP\/1\.1 200 /, JSON.stringify(h2c.slice(0, 100)));
  const ok = await rawAll(
    port,
    `GET /after HTTP/1.1\r\nHost: ${HOST}\r\nX-User-Id: k\r\nConnection: close\r\n\r\n`,
  );
  assert.match(ok, /^HTTP\/1\.1 200 /, "the process still serves");
});
