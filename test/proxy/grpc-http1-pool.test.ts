// A gRPC call routed to a `protocol: http1` pool is refused by shardgate itself, never sent
// to a member as HTTP/1.1: a real @grpc/grpc-js client gets a trailers-only UNIMPLEMENTED
// whose message names the pool and its protocol; the members see no request; the refusal is
// counted in /metrics (shardgate_grpc_refused_total{pool}); an HTTP/1.1 request claiming
// application/grpc gets the JSON error with the same code. Runs a real shardgate process.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { parse } from "yaml";
import { grpcRouteHints } from "../../config/file/grpc-route-hints.js";
import { configSchema } from "../../config/file/schema.js";
import { runShardgate } from "../support/ctl-runner.js";
import { ECHO_SERVICE, unaryStatus } from "../support/grpc-echo.js";
import {
  fetchJson,
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

function served(ups: readonly EchoUpstream[]): number {
  return ups.reduce((n, u) => n + u.requests - u.healthProbes, 0);
}

function unary(port: number, v: string): Promise<{ code: number; details: string }> {
  return unaryStatus(port, "x-user-id", v, "hello");
}

describe("gRPC to an http1 pool", { timeout: 120_000 }, () => {
  let ups: EchoUpstream[] = [];
  let sg: RunningShardgate;

  before(async () => {
    ups = await startUpstreams(2, "h1");
    sg = await startShardgate(poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })) }), {
      timeoutMs: 60_000,
    });
  });
  after(async () => {
    await stopAll();
    await closeAll(ups);
  });

  it("answers UNIMPLEMENTED naming the pool and protocol, forwards nothing, counts each refusal", async () => {
    const port = Number(new URL(sg.httpUrl).port);
    const before = served(ups);
    const calls = 5;
    for (let i = 0; i < calls; i++) {
      const r = await unary(port, `user-${i}`);
      assert.equal(r.code, status.UNIMPLEMENTED, `call ${i}: ${r.details}`);
      assert.match(r.details, /grpc_needs_h2_pool/);
      assert.match(r.details, /pool "users" has protocol http1/);
      assert.match(r.details, /h2c or h2/);
    }
    assert.equal(served(ups), before, "a gRPC call reached an HTTP/1.1 member");
    // The same request spoken over HTTP/1.1 gets shardgate's JSON error with the same code.
    const h1 = await fetchJson(`${sg.httpUrl}${ECHO_SERVICE.Unary.path}`, {
      method: "POST",
      headers: { "content-type": "application/grpc+proto", "x-user-id": "u" },
      body: Buffer.alloc(5),
    });
    assert.equal(h1.status, 502, h1.text);
    assert.equal((h1.body as { error?: string }).error, "grpc_needs_h2_pool");
    assert.equal(served(ups), before, "an HTTP/1.1 'gRPC' request reached a member");
    // Ordinary requests to the pool still go through.
    const ok = await fetchJson(`${sg.httpUrl}/x`, { headers: { "x-user-id": "u" } });
    assert.equal(ok.status, 200, ok.text);
    // application/grpc-web is not gRPC over HTTP/2 and is forwarded as any request.
    const web = await fetchJson(`${sg.httpUrl}/x`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web", "x-user-id": "u" },
      body: "x",
    });
    assert.equal(web.status, 200, web.text);
    const metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
    assert.equal(metricValue(metrics, "shardgate_grpc_refused_total", { pool: "users" }), calls + 1);
  });
});

const HINTED = `pools:
  api: { members: [{ id: a, address: "127.0.0.1:1" }] }
  grpc: { protocol: h2c, members: [{ id: b, address: "127.0.0.1:2" }] }
routes:
  - match: { pathPrefix: /helloworld.Greeter/ }
    pool: api
    key: [header:x-tenant]
  - match: { pathPrefix: /grpc.health.v1.Health }
    pool: grpc
    key: [header:x-tenant]
  - match: { pathPrefix: /index.html }
    pool: api
    key: [ip]
  - match: { pathPrefix: /api.v1/ }
    pool: api
    key: [ip]
`;

describe("config check: a gRPC-looking route to an http1 pool", () => {
  it("is named by grpcRouteHints (service-like prefix, http1 pool only)", () => {
    const hints = grpcRouteHints(configSchema.parse(parse(HINTED)));
    assert.equal(hints.length, 1, hints.join("\n"));
    assert.match(hints[0], /routes\[0\].*helloworld\.Greeter.*pool "api" has protocol http1.*h2c or h2/);
  });

  it("is a warning from `shardgate validate`: printed, exit 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sg-grpc-hint-"));
    try {
      const file = join(dir, "c.yaml");
      writeFileSync(file, HINTED);
      const r = await runShardgate(["validate", "--config", file]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^ok: 2 pools, 4 routes/);
      assert.match(r.stderr, /warning: routes\[0\] .*gRPC service path.*protocol http1/);
      assert.doesNotMatch(r.stderr, /routes\[[123]\]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
