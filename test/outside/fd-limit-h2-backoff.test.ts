// Tried from the outside: an HTTP/2 (h2c) member dialled by a shardgate at its own descriptor
// limit, then the descriptors freed. A session whose dial failed used to start the address's
// reconnect backoff (50 ms doubling to 2 s) even when the failure was EMFILE, this instance's
// own shortage: for up to 2 s after descriptors were free again, calls to the member still got
// 503 local_resource_exhausted without a dial. Now a local shortage starts no backoff and the
// first call after the descriptors free is served. Same prlimit set-up and helpers as
// fd-limit-upstream.test.ts.

import assert from "node:assert/strict";
import { createServer as createHttp2Server, type Http2Server } from "node:http2";
import type { Socket } from "node:net";
import { after, before, test } from "node:test";
import { fdLimitUnavailable, freeBelow } from "../support/fd-limit.js";
import { holdAtFdLimit, lowerShardgateFdLimit, openClient } from "../support/fd-limit-clients.js";
import { askRaw, GET_AT_LIMIT } from "../support/raw-ask.js";
import { eventually, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";

const SKIP = fdLimitUnavailable();
/** Descriptor numbers left above shardgate's highest when the limit is set: a few client connections. */
const HEADROOM = 12;
/**
 * How long calls meet the limit: past 1.55 s of back-to-back calls the old backoff had
 * doubled to its 2 s cap (dials at 0, 50, 150, 350, 750, 1550 ms), so the first call after the
 * descriptors free fell inside it. A floor, not a budget: nothing asserts on time.
 */
const AT_LIMIT_MS = 1_700;
/** Bounds the calls made at the limit. */
const MAX_ASKS = 400;
/** Descriptors freed before the call that must be served. */
const FREED = 8;

let h2Upstream: Http2Server;
let sg: RunningShardgate;
const fillers = new Set<Socket>();
const askers = new Set<Socket>();

before(async () => {
  if (SKIP !== null) return;
  h2Upstream = createHttp2Server((_req, res) => res.end("ok"));
  await new Promise<void>((r) => h2Upstream.listen(0, "127.0.0.1", r));
  const port = (h2Upstream.address() as { port: number }).port;
  sg = await startShardgate(`listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
log: { level: info }
pools:
  users:
    protocol: h2c
    members: [{ id: s1, address: "127.0.0.1:${port}" }]
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
`);
});

after(async () => {
  for (const s of fillers) s.destroy();
  for (const s of askers) s.destroy();
  await stopAll();
  await new Promise((r) => h2Upstream?.close(r));
});

test("h2c: an EMFILE dial starts no reconnect backoff; the first call once descriptors free is served", {
  skip: SKIP ?? false,
}, async () => {
  const pid = sg.proc.child.pid;
  assert.ok(pid !== undefined);
  const port = Number(new URL(sg.httpUrl).port);
  // The connection the calls go on, accepted before the limit; no HTTP/2 session is open yet.
  const asker = await openClient(port, askers);
  assert.ok(asker !== null);

  const limit = await lowerShardgateFdLimit(sg, HEADROOM);

  // Calls at the limit, one after another, for AT_LIMIT_MS: each is the 503 of a failed dial.
  const started = performance.now();
  let asks = 0;
  while (asks < MAX_ASKS && (asks < 5 || performance.now() - started < AT_LIMIT_MS)) {
    await holdAtFdLimit(pid, limit, port, fillers);
    assert.ok(!asker.destroyed, "the asking connection stays open");
    const a = await askRaw(asker, GET_AT_LIMIT);
    asks++;
    assert.match(a, /^HTTP\/1\.1 503 /, `call ${asks} at the limit: ${a}`);
    assert.match(a, /"error":"local_resource_exhausted"/, a);
  }

  // Free a few descriptors (the limit stays), and call at once on the same connection.
  let freed = 0;
  for (const s of fillers) {
    if (freed === FREED) break;
    if (s.destroyed) continue;
    s.destroy();
    fillers.delete(s);
    freed++;
  }
  await eventually(`${FREED} descriptors free in shardgate`, () =>
    freeBelow(pid, limit) >= FREED ? true : undefined,
  );
  const served = await askRaw(asker, GET_AT_LIMIT);
  assert.match(served, /^HTTP\/1\.1 200 /, `the first call once descriptors are free: ${served}`);
  assert.equal(sg.proc.exit, undefined, "still running");
});
