// Hostile: a half-open member cannot be held out of rotation by clients that abort every
// probe (issue 10, item 2), against a real shardgate process: once the breaker opened, it is
// decided (here: closed, since no probe failed) within openFor + timeouts.response (+ slack
// for outcome delivery and a loaded machine).

import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, test } from "node:test";
import { eventually, fetchJson, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { breakerStates } from "./hostile-support.js";

after(stopAll);

const OPEN_FOR = 500;
const RESPONSE = 1000;
const SLACK = 4000;

function abortedRequest(base: string, key: string, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const u = new URL(base);
    const req = httpRequest({ host: u.hostname, port: u.port, path: "/", headers: { "x-user-id": key } });
    req.on("error", () => resolve());
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve());
    });
    req.end();
    setTimeout(() => {
      req.destroy();
      resolve();
    }, afterMs);
  });
}

test("a member whose every probe is aborted by its client still leaves half-open in time", {
  timeout: 60_000,
}, async (t) => {
  const upstreams = await startUpstreams(2);
  t.after(() => closeAll(upstreams));
  const sg = await startShardgate(`listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
pools:
  users:
    members:
${upstreams.map((u) => `      - { id: ${u.id}, address: "127.0.0.1:${u.port}" }`).join("\n")}
    timeouts: { response: ${RESPONSE}ms }
    breaker: { consecutiveFailures: 2, openFor: ${OPEN_FOR}ms, halfOpenProbes: 1 }
routes:
  - pool: users
    key: [header:x-user-id]
`);
  t.after(() => sg.stop());
  const victim = upstreams[0];
  let key = "";
  for (let i = 0; i < 200 && key === ""; i++) {
    const r = await fetchJson(`${sg.adminUrl}/admin/route?pool=users&key=k${i}`);
    if ((r.body as { owner: string }).owner === victim.id) key = `k${i}`;
  }
  assert.notEqual(key, "", "a key owned by the victim");
  victim.mode = { kind: "status", status: 502 };
  for (let i = 0; i < 3; i++)
    await fetch(sg.httpUrl, { headers: { "x-user-id": key } }).then((r) => r.text());
  await eventually("the victim's breaker opens", async () =>
    (await breakerStates(sg.adminUrl))[victim.id] === "open" ? true : undefined,
  );
  const openedAt = Date.now();
  // The member is healthy again but slow; every request for its key is aborted before it answers.
  victim.mode = { kind: "delayHeaders", ms: 5000 };
  let aborted = 0;
  let state = "open";
  const bound = OPEN_FOR + RESPONSE + SLACK;
  while (Date.now() - openedAt < bound + 2000) {
    await abortedRequest(sg.httpUrl, key, 150);
    aborted++;
    state = (await breakerStates(sg.adminUrl))[victim.id];
    if (state === "closed") break;
  }
  const took = Date.now() - openedAt;
  assert.equal(state, "closed", `still ${state} after ${took} ms and ${aborted} aborted probes`);
  assert.ok(took <= bound, `decided after ${took} ms, bound ${bound} ms`);
  assert.ok(aborted > 1, "probes were aborted while it was half-open");
});
