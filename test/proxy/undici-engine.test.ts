// The opt-in undici engine (SHARDGATE_ENGINE=undici) runs the data plane's behavioural suites
// unchanged: forwarding, headers, retries (connect, reset, gateway errors), slow uploads,
// protocol edges, the mutation-audit cases, upstream TLS and the Forwarded header. Each test file runs in its own process, so the
// variable set here reaches only this file's in-process proxies. Left out until undici#5845 is
// fixed upstream: the suites that count idle upstream sockets after an abort
// (load-and-abort, timeouts), which that bug makes fail (an aborted request's pool opens a
// fresh idle connection).

import assert from "node:assert/strict";
import { test } from "node:test";
import { startHarness } from "./harness.js";

// Read when a data plane is constructed (inside each test), not at import.
process.env.SHARDGATE_ENGINE = "undici";

await import("./forward-basic.test.js");
await import("./retry.test.js");
await import("./retry-gateway.test.js");
await import("./slow-upload.test.js");
await import("./protocol-edges.test.js");
await import("./mutation-audit.test.js");
// Pools with upstream TLS stay on http-proxy-3 (it carries their TLS settings) under either engine.
await import("./upstream-tls.test.js");
await import("./forwarded.test.js");

test("the suites above ran on the undici engine", async (t) => {
  const h = await startHarness({ members: 1 });
  t.after(() => h.close());
  assert.equal(h.plane.engine, "undici");
});
