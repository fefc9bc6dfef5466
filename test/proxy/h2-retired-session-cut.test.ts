// A reload that removes an h2c member whose answer is still streaming: the retired session is
// closed gracefully, then destroyed once the grace (the response timeout + 1 s) runs out.
// Found: destroyed without an error, the session ended its open streams as if whole, so the
// client got the truncated answer ended normally, as a complete 200. It is now cut (the client
// sees an abort), as an HTTP/1 member's retired agent cuts it. The member still gets a
// NO_ERROR GOAWAY: this one has no error listeners, and a non-zero code would crash it.

import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { createServer as createH2Server, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { configSchema } from "../../config/file/schema.js";
import { buildRoutingState } from "../../proxy/routing/routing-state.js";
import { eventually, scaled } from "../support/wait.js";
import { startHarness } from "./harness.js";

test("an answer still streaming from a retired h2c session past its grace is cut, not ended as whole", async (t) => {
  const held: ServerHttp2Stream[] = [];
  const member = createH2Server();
  member.on("stream", (stream) => {
    stream.respond({ ":status": 200, "content-type": "text/plain" });
    stream.write("first bytes ");
    held.push(stream);
  });
  await new Promise<void>((r) => member.listen(0, "127.0.0.1", () => r()));
  t.after(() => new Promise((r) => member.close(r)));
  t.after(() => {
    for (const s of held) s.destroy();
  });
  const port = (member.address() as AddressInfo).port;
  const poolOf = (address: string) => ({
    pools: {
      h2: { protocol: "h2c" as const, members: [{ id: "m1", address }], timeouts: { response: "200ms" } },
    },
    routes: [{ pool: "h2", key: ["header:x-user-id"] }],
  });
  const h = await startHarness({ members: 1, config: () => poolOf(`127.0.0.1:${port}`) });
  t.after(() => h.close());
  const ended = new Promise<{ status: number; body: string; how: string }>((resolve) => {
    const req = httpRequest(
      { host: "127.0.0.1", port: h.port, path: "/stream", headers: { "x-user-id": "k" }, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, how: "end" }));
        res.on("aborted", () => resolve({ status: res.statusCode ?? 0, body, how: "aborted" }));
        res.on("error", () => resolve({ status: res.statusCode ?? 0, body, how: "aborted" }));
      },
    );
    req.on("error", () => resolve({ status: 0, body: "", how: "error" }));
    req.end();
  });
  await eventually("the member is streaming", () => (held.length === 1 ? true : undefined));
  // The reload: the member's address changes, so its session is retired (grace 1.2 s).
  const next = configSchema.parse(poolOf("127.0.0.1:9"));
  h.holder.apply(buildRoutingState({ pools: next.pools, routes: next.routes, ringVersion: 99 }));
  (h.plane as unknown as { observeState(): void }).observeState();
  const r = await Promise.race([
    ended,
    new Promise<{ status: number; body: string; how: string }>((resolve) =>
      setTimeout(() => resolve({ status: 0, body: "", how: "still open" }), scaled(10_000)).unref(),
    ),
  ]);
  assert.equal(r.status, 200);
  assert.equal(r.how, "aborted", `a cut answer must not look whole: ${JSON.stringify(r)}`);
});
