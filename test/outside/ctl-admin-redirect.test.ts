// `ctl --admin` at something that redirects (an ingress sending http:// on to https://, a
// moved host). ctl asked with fetch(), which followed the redirect to wherever it pointed;
// since it asks with undici's request() (net/admin-request.ts) it printed the redirect as the
// admin API refusing the action: "refused (http_308): <html>moved</html>". The admin API never
// redirects, so ctl now says that something else answers there, names where it redirects, and
// does not follow: the token must not go along. Real `shardgate ctl` processes against two
// node:http servers on 127.0.0.1, one redirecting to the other.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { runCtl } from "../support/ctl-runner.js";

const TOKEN = "0123456789abcdef0123456789abcdef";

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

// Where the redirect points: an admin-looking JSON answer, counted, so a followed redirect shows.
let followed = 0;
const target = createServer((req, res) => {
  followed++;
  req.resume();
  res.writeHead(200, { "content-type": "application/json" }).end("{}");
});
const targetPort = await listen(target);
const location = `http://127.0.0.1:${targetPort}/elsewhere`;

const redirecting = createServer((req, res) => {
  req.resume();
  res.writeHead(308, { location, "content-type": "text/html" }).end("<html>moved</html>");
});
const redirectPort = await listen(redirecting);

after(() => {
  redirecting.closeAllConnections();
  redirecting.close();
  target.closeAllConnections();
  target.close();
});

for (const args of [["status"], ["members", "p"], ["drain", "p", "m1"]]) {
  test(`ctl ${args.join(" ")} at a redirect: exit 1 naming the redirect, not followed`, async () => {
    const admin = `http://127.0.0.1:${redirectPort}`;
    const r = await runCtl(["--admin", admin, "--token", TOKEN, ...args], {}, 15_000);
    const what = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    assert.equal(r.code, 1, what);
    assert.ok(r.stderr.includes(`${admin} is not a shardgate admin API`), what);
    assert.ok(r.stderr.includes(`answered 308, a redirect to ${location}`), what);
    assert.doesNotMatch(r.stderr, /refused \(http_308\)/, what);
    assert.equal(followed, 0, `the redirect was followed ${followed} times\n${what}`);
  });
}
