// `redis.maxReplyBytes` set below what a route's shared cache needs (its cache.maxBytes plus the
// entry's head allowance and RESP framing) can never serve a cached entry of the route's own max
// size: the reply drops the Redis connection. It used to be a start-up warning and the process
// ran; now it is a config error, said alike by `shardgate validate`, by `start` (which exits)
// and by a reload (refused, the old config kept serving). A bound that holds the entry passes.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { CACHE_REPLY_OVERHEAD } from "../../config/file/edge-schema.js";
import { runShardgate } from "../support/ctl-runner.js";
import { freePorts } from "../support/ports.js";
import {
  fetchJson,
  ShardgateChild,
  startShardgate,
  stopAll,
  TempConfig,
} from "../support/shardgate-process.js";

const TOKEN = "reply-bound-config-token-0123456789";
const MIB = 1024 * 1024;
const NEEDED = 8 * MIB + CACHE_REPLY_OVERHEAD;
/** The error line's text after the file position, as every path reports it. */
const ERROR = new RegExp(
  `redis\\.maxReplyBytes: ${4 * MIB} bytes is below the ${NEEDED} bytes routes\\[0\\]\\.cache needs`,
);
let upstream: Server;
let upstreamPort = 0;
let redisPort = 0;

before(async () => {
  upstream = createServer((req, res) => res.end(`origin ${req.url}`));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamPort = (upstream.address() as AddressInfo).port;
  // Nothing listens there: the store is only configured (a cache miss goes upstream, open).
  [redisPort] = await freePorts(1);
});
after(async () => {
  await stopAll();
  upstream.close();
});

function config(maxBytes: string, maxReplyBytes: string): string {
  return `listen: { http: 127.0.0.1:0, admin: 127.0.0.1:0 }
log: { level: info, accessLog: false }
admin: { token: ${TOKEN} }
pools:
  users:
    members:
      - { id: u1, address: "127.0.0.1:${upstreamPort}" }
redis: { url: "redis://127.0.0.1:${redisPort}", maxReplyBytes: ${maxReplyBytes} }
routes:
  - match: { host: "*", pathPrefix: /static }
    pool: users
    key: [path:2]
    cache: { store: redis, maxBytes: ${maxBytes} }
`;
}

test("validate: a bound below the cache's need is one error naming redis.maxReplyBytes and the route; one that holds it passes", async (t) => {
  const bad = new TempConfig(config("8mb", "4mb"));
  const good = new TempConfig(config("8mb", `${NEEDED}`));
  t.after(() => {
    bad.remove();
    good.remove();
  });
  const r = await runShardgate(["validate", "--config", bad.path]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.at(-1), `${bad.path}: 1 error`, r.stderr);
  assert.match(lines[0], ERROR, r.stderr);
  const ok = await runShardgate(["validate", "--config", good.path]);
  assert.equal(ok.code, 0, ok.stderr);
});

test("start: the same error, and the process exits without serving", { timeout: 60_000 }, async (t) => {
  const bad = new TempConfig(config("8mb", "4mb"));
  t.after(() => bad.remove());
  const proc = new ShardgateChild(["start", "--config", bad.path]);
  t.after(() => proc.stop());
  const exit = await proc.waitExit();
  assert.notEqual(exit.code, 0, proc.output());
  assert.match(proc.output(), ERROR, proc.output());
  assert.ok(!proc.lines.some((l) => l.msg === "listening"), proc.output());
});

test("reload: refused with the same error, the old config keeps serving", { timeout: 120_000 }, async (t) => {
  const sg = await startShardgate(config("1mb", "4mb"));
  t.after(() => sg.stop());
  const AUTH = { authorization: `Bearer ${TOKEN}` };
  sg.config.write(config("8mb", "4mb"));
  const r = await fetchJson(`${sg.adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
  assert.equal(r.status, 400, r.text);
  const body = r.body as { error: string; detail: { errors: Array<{ path: string; message: string }> } };
  assert.equal(body.error, "invalid_config", r.text);
  assert.deepEqual(
    body.detail.errors.map((e) => e.path),
    ["redis.maxReplyBytes"],
    r.text,
  );
  assert.match(`redis.maxReplyBytes: ${body.detail.errors[0].message}`, ERROR, r.text);
  const res = await fetch(`${sg.httpUrl}/static/k1`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "origin /static/k1");
  // The running config is the old one: a SIGHUP of the same file is refused alike (logged).
  sg.proc.signal("SIGHUP");
  const line = await sg.proc.waitForLine(
    "the SIGHUP reload rejected",
    (l) => l.msg?.startsWith("config reload rejected") === true && l.trigger === "SIGHUP",
  );
  assert.match(JSON.stringify(line.errors), /redis\.maxReplyBytes/, JSON.stringify(line));
});
