// Tried from the outside: shardgate at its own file descriptor limit. A real shardgate per
// engine, its soft RLIMIT_NOFILE lowered with `prlimit` to a few descriptors above what it holds,
// then more client connections than that: libuv closes the extra ones at once, and a request on
// an accepted one needs a dial to the member that fails with EMFILE. That is the instance's
// shortage, not the member's failure. It was answered 502 upstream_reset and counted against
// the member (upstream_errors_total kind="reset", its breaker: 3 in a row opened it, for the
// whole fleet); now it is 503 local_resource_exhausted, the member's counts and breaker stay
// untouched, /admin/state and a warning name the limit, and once the clients leave the same
// process serves again (under the same limit). WebSocket upgrades (http-proxy-3) likewise.

import assert from "node:assert/strict";
import { createServer as createHttp2Server, type Http2Server } from "node:http2";
import type { Socket } from "node:net";
import { after, before, test } from "node:test";
import { atLimitConfig } from "../support/at-limit-config.js";
import { type ClosingUpstream, startClosingUpstream } from "../support/closing-upstream.js";
import { fdLimitUnavailable, freeBelow } from "../support/fd-limit.js";
import { holdAtFdLimit, lowerShardgateFdLimit, openClient } from "../support/fd-limit-clients.js";
import { ENGINES, type Engine } from "../support/per-engine.js";
import { askRaw, GET_AT_LIMIT, UPGRADE_AT_LIMIT } from "../support/raw-ask.js";
import {
  eventually,
  fetchJson,
  type LogLine,
  metricValue,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";

const SKIP = fdLimitUnavailable();
/** Descriptor numbers left above shardgate's highest when the limit is set: a few client connections. */
const HEADROOM = 12;
/** Client connections opened past the limit: libuv must close these at once. */
const EXTRA = 28;
/** Bounds the connections a test opens. */
const MAX_CLIENTS = 2_000;
/** Requests sent on accepted connections at the limit: more than the breaker's 3 in a row. */
const ASKED = 5;
/** Bounds the requests sent at the limit. */
const MAX_ASKS = 60;

let upstream: ClosingUpstream | undefined;
let h2Upstream: Http2Server;
/** By engine, and "h2c": a pool of one HTTP/2 member. */
const running = new Map<Engine | "h2c", RunningShardgate>();
const sockets = new Set<Socket>();

before(async () => {
  if (SKIP !== null) return;
  // Every answer closes its connection: each request needs a fresh dial, as at the limit it must.
  upstream = await startClosingUpstream({ declineUpgrades: true });
  const upstreamPort = upstream.port;
  for (const engine of ENGINES)
    running.set(
      engine,
      await startShardgate(atLimitConfig(upstreamPort), { env: { SHARDGATE_ENGINE: engine } }),
    );
  // An HTTP/2 member: no session is open before the limit, so the first call needs a dial.
  h2Upstream = createHttp2Server((_req, res) => res.end("ok"));
  await new Promise<void>((r) => h2Upstream.listen(0, "127.0.0.1", r));
  const h2Port = (h2Upstream.address() as { port: number }).port;
  running.set("h2c", await startShardgate(atLimitConfig(h2Port, "    protocol: h2c\n")));
});

after(async () => {
  for (const s of sockets) s.destroy();
  await stopAll();
  await upstream?.close();
  await new Promise((r) => h2Upstream?.close(r));
});

for (const kind of [...ENGINES, "h2c"] as const) {
  test(`${kind}: at its own descriptor limit a dial's EMFILE is 503 local_resource_exhausted, not the member's failure, and it serves again once clients leave`, {
    skip: SKIP ?? false,
  }, async () => {
    const sg = running.get(kind);
    assert.ok(sg !== undefined);
    // HTTP/2 pools take no upgrade (upgrade_not_supported); the others ask one first.
    const upgrade = kind !== "h2c";
    const pid = sg.proc.child.pid;
    assert.ok(pid !== undefined);
    const port = Number(new URL(sg.httpUrl).port);
    if (kind !== "h2c") {
      const warm = await fetch(`${sg.httpUrl}/warm`, { headers: { "x-user-id": "k" } });
      assert.equal(warm.status, 200);
      await warm.text();
    }

    // In production the limit is set before the start; lowered while running, it shows once
    // the sampler has read it (every 2 s).
    const limit = await lowerShardgateFdLimit(sg, HEADROOM);
    // Free numbers below the limit (a hole under a high-numbered descriptor counts) plus more.
    const clients = freeBelow(pid, limit) + EXTRA;
    assert.ok(clients <= MAX_CLIENTS, `${clients} client connections needed to reach ${limit}`);
    const opened = await Promise.all(Array.from({ length: clients }, () => openClient(port, sockets)));
    // The kernel completes every handshake; libuv closes those past the limit at once. Ask on
    // each connection still open (an upgrade first): an accepted one answers, a closed one closes.
    // A descriptor may come free between the top-up and the dial (an answered connection
    // closing): that dial succeeds and is answered 200. Every other answer must be the 503.
    const refused: string[] = [];
    const served: string[] = [];
    let upgradeAnswer = upgrade ? "" : "not asked";
    let asked = 0;
    for (const s of opened) {
      if (refused.length === ASKED || asked === MAX_ASKS) break;
      if (s === null || s.destroyed) continue;
      // An answer may close its connection (the upgrade's does): take the freed descriptor
      // with another client before asking again, so the next dial meets the limit too.
      await holdAtFdLimit(pid, limit, port, sockets);
      if (s.destroyed) continue;
      asked++;
      const a = await askRaw(s, upgradeAnswer === "" ? UPGRADE_AT_LIMIT : GET_AT_LIMIT);
      if (a === "closed") continue;
      if (upgradeAnswer === "") {
        // The member declines upgrades with a 403: the dial went through.
        if (a.startsWith("HTTP/1.1 403")) served.push(a);
        else upgradeAnswer = a;
      } else if (a.startsWith("HTTP/1.1 200")) served.push(a);
      else refused.push(a);
    }
    const dropped = opened.filter((s) => s === null || s.destroyed).length;
    assert.ok(dropped > 0, `some of ${clients} connections past the limit ${limit} were closed`);
    assert.equal(refused.length, ASKED, `${asked} asked, served: ${served.length}`);
    for (const a of refused) {
      assert.match(a, /^HTTP\/1\.1 503 /, a);
      assert.match(a, /"error":"local_resource_exhausted"/, a);
    }
    if (upgrade) {
      assert.match(upgradeAnswer, /^HTTP\/1\.1 503 /, upgradeAnswer);
      assert.match(upgradeAnswer, /"error":"local_resource_exhausted"/, upgradeAnswer);
    }
    const shortages = ASKED + (upgrade ? 1 : 0);

    // The clients leave; the limit stays. The same process serves a new connection again.
    for (const s of sockets) s.destroy();
    sockets.clear();
    await eventually("a 200 under the same limit once the clients left", async () => {
      try {
        const res = await fetch(`${sg.httpUrl}/after`, { headers: { "x-user-id": "k" } });
        await res.text();
        return res.status === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    });
    assert.equal(sg.proc.exit, undefined, "still running");

    // Nothing was counted against the member; the fleet state keeps its breaker closed.
    const metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
    for (const kind of ["connect", "reset", "timeout"])
      assert.equal(
        metricValue(metrics, "shardgate_upstream_errors_total", { pool: "users", member: "s1", kind }) ?? 0,
        0,
        `upstream_errors_total kind=${kind}`,
      );
    assert.ok(
      (metricValue(metrics, "shardgate_local_resource_exhausted_total", { op: "upstream_connect" }) ?? 0) >=
        shortages,
      "each dial's shortage counted",
    );
    const state = await fetchJson(`${sg.adminUrl}/admin/state`);
    const body = state.body as {
      pools: { users: { members: { id: string; breaker: string; healthy: boolean }[] } };
      descriptors: { limit: number | null; exhausted: number; last?: { op: string; code: string } };
    };
    const s1 = body.pools.users.members.find((m) => m.id === "s1");
    assert.equal(s1?.breaker, "closed", JSON.stringify(body.pools));
    assert.equal(body.descriptors.limit, limit, JSON.stringify(body.descriptors));
    assert.ok(body.descriptors.exhausted >= shortages, JSON.stringify(body.descriptors));
    assert.deepEqual(
      { op: body.descriptors.last?.op, code: body.descriptors.last?.code },
      { op: "upstream_connect", code: "EMFILE" },
    );
    const warn = await sg.proc.waitForLine(
      "the warning naming the shortage",
      (l) => l.op === "upstream_connect" && l.code === "EMFILE",
    );
    assert.equal(warn.limit, limit, JSON.stringify(warn));
    assert.equal(typeof warn.openConnections, "number", JSON.stringify(warn));
    const isRefused = (l: LogLine) => l.type === "access" && l.path === "/at-limit" && l.status === 503;
    // The log is written asynchronously: wait for every refused request's line.
    const access = await sg.proc.waitFor("one access line per refused request", () => {
      const l = sg.proc.lines.filter(isRefused);
      return l.length >= ASKED ? l : undefined;
    });
    assert.equal(access.length, ASKED);
    for (const l of access) assert.equal(l.error, "local_resource_exhausted", JSON.stringify(l));
  });
}
