// undici is the default engine, so every suite under test/ runs on it. This file runs the data
// plane's behavioural suites again on the http-proxy-3 engine (SHARDGATE_ENGINE=http-proxy),
// which stays in use for upgrades, routes with edge features and pools with upstream TLS, and
// as the opt-out: forwarding, headers, retries (connect, reset, gateway errors), slow uploads,
// protocol edges, the mutation-audit cases, aborts and timeouts (upstream sockets counted),
// upstream TLS and the Forwarded header. Each test file runs in its own process, so the
// variable set here reaches only this file's in-process proxies.

import assert from "node:assert/strict";
import { test } from "node:test";
import { startHarness } from "./harness.js";

// Read when a data plane is constructed (inside each test), not at import.
process.env.SHARDGATE_ENGINE = "http-proxy";

await import("./forward-basic.test.js");
await import("./retry.test.js");
await import("./retry-gateway.test.js");
await import("./slow-upload.test.js");
await import("./protocol-edges.test.js");
await import("./mutation-audit.test.js");
await import("./load-and-abort.test.js");
await import("./timeouts.test.js");
await import("./upstream-tls.test.js");
await import("./forwarded.test.js");

test("the suites above ran on the http-proxy-3 engine", async (t) => {
  const h = await startHarness({ members: 1 });
  t.after(() => h.close());
  assert.equal(h.plane.engine, "http-proxy");
});
