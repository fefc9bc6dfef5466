// admin.allowedHosts written the way DNS zone files and many operators write names: fully
// qualified, with a final dot, and in mixed case. The Host a client sends is compared without
// its final dot and lower-cased; an exact entry was too, but a `*.suffix` entry kept its final
// dot, so `*.ops.example.` matched no Host at all: every name under it, listed so the admin port
// would answer it, got 421 host_not_allowed (operators locked out, Prometheus targets down).
// A real shardgate, raw requests with the Host set; foreign names still get 421.

import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

const WAIT_MS = 30_000;

function statusFor(adminUrl: string, host: string): Promise<number> {
  const u = new URL(adminUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: "/admin/state", agent: false, headers: { host } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.setTimeout(WAIT_MS, () => req.destroy(new Error(`no answer for Host ${host} within ${WAIT_MS} ms`)));
    req.on("error", reject);
    req.end();
  });
}

describe("admin.allowedHosts entries with a final dot and upper case", () => {
  let ups: EchoUpstream[];
  let sg: RunningShardgate;

  before(async () => {
    ups = await startUpstreams(1, "fq");
    const yaml = poolConfig({
      members: ups.map((u) => ({ id: u.id, port: u.port })),
      accessLog: false,
    }).replace(/^admin:\n/m, `admin:\n  allowedHosts: ["*.Ops.Example.", "Admin.Example."]\n`);
    assert.match(yaml, /allowedHosts/, "the config carries admin.allowedHosts");
    sg = await startShardgate(yaml);
  });
  after(async () => {
    await sg?.stop();
    await stopAll();
    await closeAll(ups ?? []);
  });

  test("names under `*.Ops.Example.` and `Admin.Example.` are answered, others refused", async () => {
    const port = new URL(sg.adminUrl).port;
    const want: Array<[string, number]> = [
      [`prom.ops.example:${port}`, 200],
      ["prom.ops.example", 200],
      [`PROM.OPS.EXAMPLE.:${port}`, 200],
      ["a.b.ops.example", 200],
      [`admin.example:${port}`, 200],
      ["admin.example.", 200],
      ["ops.example", 421],
      ["evil.example", 421],
      ["ops.example.evil.example", 421],
      ["xops.example", 421],
    ];
    const got: Array<[string, number]> = [];
    for (const [host] of want) got.push([host, await statusFor(sg.adminUrl, host)]);
    assert.deepEqual(got, want);
  });
});
