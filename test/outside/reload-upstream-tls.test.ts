// Tried from the outside: `start` refuses a pool whose `tls` files cannot be read (README,
// "Upstream TLS": "An unreadable file is a config error at start"), but a reload (SIGHUP or
// POST /admin/reload) accepted the same file: the pool switched to TLS without its CA and
// every request through it failed with 502. A reload must refuse it and keep the running
// config, as it does for any invalid file.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  fetchJson,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

let upstreams: EchoUpstream[] = [];
let sg: RunningShardgate;
const TOKEN = "outside-reload-token";

before(async () => {
  upstreams = await startUpstreams(1);
  sg = await startShardgate(poolConfig({ members: [{ id: "m1", port: upstreams[0].port }], token: TOKEN }));
});

after(async () => {
  await stopAll();
  await closeAll(upstreams);
});

test("a reload naming an unreadable upstream CA is refused and the running config keeps serving", async () => {
  const missing = join(sg.config.dir, "no-such-ca.pem");
  sg.config.write(
    poolConfig({
      members: [{ id: "m1", port: upstreams[0].port }],
      token: TOKEN,
      poolExtra: `    tls: { ca: ${missing} }`,
    }),
  );
  const r = await fetchJson(`${sg.adminUrl}/admin/reload`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(r.status, 400, r.text);
  const body = r.body as { error: string; detail: { errors: Array<{ path: string; message: string }> } };
  assert.equal(body.error, "invalid_config", r.text);
  assert.deepEqual(
    body.detail.errors.map((e) => e.path),
    ["pools.users.tls"],
    r.text,
  );
  assert.match(body.detail.errors[0].message, /no-such-ca\.pem/);
  const res = await fetch(`${sg.httpUrl}/`, { headers: { "x-user-id": "alice" } });
  assert.equal(res.status, 200, await res.text());
});
