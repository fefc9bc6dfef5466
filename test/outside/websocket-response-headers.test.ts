// shardgate's own response headers on a WebSocket's answer, tried from the outside: a real
// shardgate process in front of a `ws` server (it answers 101) and a path it refuses with 426.
// Found: the 101 (and an upstream's refusal of the upgrade) carried none of them. A route with
// `onMissingKey: cookie` routed a cookie-less handshake by a fresh id but never sent the
// cookie, so a browser whose first request is its WebSocket landed on a random member at
// every reconnect; `x-request-id` (echoed on every other answer) and the configured member and
// ring-version headers were missing too. Now the upgrade's answer gets what a plain answer gets.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { WebSocketServer } from "ws";
import {
  readHead,
  refuseUpgrade,
  startUpgradingMember,
  type UpgradingMember,
  WEBSOCKET_OFFER,
} from "../support/raw-upgrade.js";
import { fetchJson, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

const members: UpgradingMember[] = [];
let sg: RunningShardgate;
let port = 0;

before(async () => {
  for (let i = 1; i <= 3; i++) {
    // A plain HTTP path refuses the upgrade the way an endpoint without WebSockets does.
    const wss = new WebSocketServer({ noServer: true });
    members.push(
      await startUpgradingMember(
        (req, socket, head) => {
          if (req.url?.startsWith("/refused")) {
            refuseUpgrade(socket);
            return;
          }
          wss.handleUpgrade(req, socket, head, (ws) => ws.send(`m${i}`));
        },
        (_req, res) => res.end(`m${i}`),
      ),
    );
  }
  sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: true }
headers: { memberHeader: x-member, ringVersionHeader: x-ring-version }
pools:
  users:
    members: [${members.map((m, i) => `{ id: m${i + 1}, address: "${m.address}" }`).join(", ")}]
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [cookie:sg_key]
    onMissingKey: cookie
`);
  port = Number(new URL(sg.httpUrl).port);
});

after(async () => {
  await stopAll();
  for (const m of members) await m.close();
});

/** Sends a handshake; resolves with the answer's status, headers and the first bytes after it. */
function handshake(path: string, extra = "") {
  return readHead(
    port,
    `GET ${path} HTTP/1.1\r\n${WEBSOCKET_OFFER}${extra}\r\n`,
    // The 101 is followed by the member's first frame (its name); a refusal ends the connection.
    (text, end) => !text.startsWith("HTTP/1.1 101") || /m\d/.test(text.slice(end)),
  );
}

test("a cookie-less WebSocket handshake under onMissingKey: cookie gets the cookie it was routed by", {
  timeout: 60_000,
}, async () => {
  const first = await handshake("/live");
  assert.equal(first.status, 101);
  const cookie = first.headers.get("set-cookie")?.find((c) => c.startsWith("sg_key="));
  assert.ok(cookie !== undefined, `the 101 sets the sticky cookie: ${JSON.stringify([...first.headers])}`);
  const id = cookie.slice("sg_key=".length).split(";")[0];
  const route = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=${encodeURIComponent(id)}`);
  const owner = (route.body as { member: string }).member;
  assert.equal(first.rest.slice(-2), owner, "the handshake went to the cookie's member");
  assert.deepEqual(first.headers.get("x-member"), [owner]);
  assert.match(first.headers.get("x-ring-version")?.[0] ?? "", /^\d+$/);
  const requestId = first.headers.get("x-request-id")?.[0];
  const line = await sg.proc.waitForLine(
    "the first handshake's access line",
    (l) => l.requestId === requestId,
  );
  assert.equal(line.status, 101);
  // The reconnect carries the cookie: the same member, and no new cookie.
  for (let i = 0; i < 3; i++) {
    const again = await handshake("/live", `Cookie: sg_key=${id}\r\n`);
    assert.equal(again.status, 101);
    assert.equal(again.rest.slice(-2), owner);
    assert.equal(again.headers.get("set-cookie"), undefined);
  }
});

test("an upgrade the member refuses (426) gets shardgate's headers too", { timeout: 60_000 }, async () => {
  const r = await handshake("/refused", "x-request-id: refused-1\r\n");
  assert.equal(r.status, 426);
  assert.deepEqual(r.headers.get("x-request-id"), ["refused-1"]);
  assert.ok(r.headers.get("set-cookie")?.[0]?.startsWith("sg_key="), JSON.stringify([...r.headers]));
  assert.equal(r.headers.get("x-member")?.length, 1);
});
