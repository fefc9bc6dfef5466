// Dot segments in the request path, tried from outside: a real shardgate with an /api route and
// a catch-all route to another pool, raw paths sent with node:http (fetch would resolve them
// before sending). "/api/../x" matched the /api route and was forwarded as sent, so the api
// upstream (or any later hop) resolved it to "/x": the route's prefix was no boundary. Now the
// path is normalised (RFC 3986 6.2.2, as Envoy's normalize_path) before routing and forwarded
// normalised: each upstream sees exactly the path that was routed to it.

import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { h2Request, h2Session } from "../support/h2-client.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoBody, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

let api: EchoUpstream;
let other: EchoUpstream[] = [];
let keyed: EchoUpstream[] = [];
let sg: RunningShardgate;
let port = 0;

before(async () => {
  [api] = await startUpstreams(1, "api");
  other = await startUpstreams(1, "other");
  keyed = await startUpstreams(4, "k");
  const keyedMembers = keyed.map((u) => `      - { id: ${u.id}, address: "127.0.0.1:${u.port}" }`).join("\n");
  sg = await startShardgate(`listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
log:
  accessLog: false
pools:
  api:
    members:
      - { id: ${api.id}, address: "127.0.0.1:${api.port}" }
  other:
    members:
      - { id: ${other[0].id}, address: "127.0.0.1:${other[0].port}" }
  keyed:
    members:
${keyedMembers}
routes:
  - match: { pathPrefix: /api }
    pool: api
    key: [ip]
  - match: { pathPrefix: /k/ }
    pool: keyed
    key: [path:2]
    onMissingKey: reject
  - match: { pathPrefix: / }
    pool: other
    key: [ip]
`);
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  await closeAll([api, ...other, ...keyed]);
});

/** GET `path` sent byte for byte; the status and the echo upstream's JSON (undefined if not JSON). */
function get(path: string): Promise<{ status: number; echo: EchoBody | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host: "a.example" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        text += d;
      });
      res.on("end", () => {
        let echo: EchoBody | undefined;
        try {
          echo = JSON.parse(text) as EchoBody;
        } catch {
          echo = undefined;
        }
        resolve({ status: res.statusCode ?? 0, echo, text });
      });
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer to ${path} in 30 s`)));
    req.on("error", reject);
    req.end();
  });
}

test("a dot segment cannot carry a path out of the /api route", async () => {
  const cases: Array<[string, string, string]> = [
    ["/api/../x", other[0].id, "/x"],
    ["/api/%2e%2e/x", other[0].id, "/x"],
    ["/api/%2E%2E/x?q=/../y", other[0].id, "/x?q=/../y"],
    ["/api/./a/../b", api.id, "/api/b"],
    ["/x/../api/v", api.id, "/api/v"],
    ["/api/%2F../x", api.id, "/api/%2F../x"],
    ["/api/a", api.id, "/api/a"],
  ];
  for (const [sent, member, path] of cases) {
    const r = await get(sent);
    assert.equal(r.status, 200, `${sent}: ${r.text}`);
    assert.equal(r.echo?.member, member, `${sent} went to ${r.echo?.member}`);
    assert.equal(r.echo?.path, path, `${sent} reached ${r.echo?.member} as ${r.echo?.path}`);
  }
});

test("over HTTP/2 (h2c) the :path is normalised the same way", async (t) => {
  const session = await h2Session(t, sg.httpUrl);
  for (const [sent, member, path] of [
    ["/api/../x", other[0].id, "/x"],
    ["/api/%2e%2e/x", other[0].id, "/x"],
    ["/api/./a/../b", api.id, "/api/b"],
  ]) {
    const r = await h2Request(session, { path: sent, headers: { host: "a.example" } });
    assert.equal(r.status, 200, `${sent}: ${r.text}`);
    const echo = r.json() as EchoBody;
    assert.equal(echo.member, member, `${sent} went to ${echo.member}`);
    assert.equal(echo.path, path, `${sent} reached ${echo.member} as ${echo.path}`);
  }
});

test("the path:N key is read from the normalised path", async () => {
  // "/k/./K" is "/k/K": keyed by K, so the same member as "/k/K" (key "." for all on the old code).
  const spread = new Set<string>();
  for (let i = 0; i < 16; i++) {
    const plain = await get(`/k/user${i}`);
    const dotted = await get(`/k/./user${i}`);
    assert.equal(plain.status, 200, plain.text);
    assert.equal(dotted.status, 200, dotted.text);
    assert.equal(dotted.echo?.path, `/k/user${i}`);
    assert.equal(dotted.echo?.member, plain.echo?.member, `/k/./user${i} and /k/user${i} differ`);
    spread.add(String(plain.echo?.member));
  }
  assert.ok(spread.size > 1, "16 keys all on one member: the comparison above proves nothing");
  // "/k/x/.." is "/k/": no second segment, so the route's onMissingKey: reject answers.
  const r = await get("/k/x/..");
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /missing_key/);
});
