// Tried from the outside: `workers: 2` at the workers' own file descriptor limit. Each worker
// accepts on the shared socket itself (node:cluster SCHED_NONE, proxy/workers/supervisor.ts), so
// a worker is the process that meets the limit: libuv closes the connections it cannot take, and
// a request on one it took needs a dial that fails with EMFILE: 503 local_resource_exhausted,
// nothing counted against the member, as in the single process (fd-limit-upstream.test.ts).
// /admin/state showed the primary's descriptors only (its limit, nothing exhausted): the
// process that met the limit was nowhere to be seen. Each `workers` entry now has its worker's.

import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { after, before, test } from "node:test";
import { atLimitConfig } from "../support/at-limit-config.js";
import { type ClosingUpstream, startClosingUpstream } from "../support/closing-upstream.js";
import { runCtl } from "../support/ctl-runner.js";
import { fdLimitUnavailable, freeBelow, highestFd, setSoftFdLimit } from "../support/fd-limit.js";
import { openClient } from "../support/fd-limit-clients.js";
import { askRaw, GET_AT_LIMIT } from "../support/raw-ask.js";
import {
  eventually,
  fetchJson,
  metricValue,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { allWorkersAt, type WorkerEntry } from "../support/workers.js";

const SKIP = fdLimitUnavailable();
/** Descriptor numbers left above each worker's highest when its limit is set. */
const HEADROOM = 12;
/** Bounds the client connections the test opens. */
const MAX_CLIENTS = 2_000;
/** Requests that must be refused at the limit (more than the breaker's 3 in a row). */
const ASKED = 5;
/** Bounds the requests sent at the limit. */
const MAX_ASKS = 60;

interface Descriptors {
  limit: number | null;
  exhausted: number;
  atLimit: boolean;
  last?: { op: string; code: string };
}
type Entry = WorkerEntry & { descriptors?: Descriptors };

let upstream: ClosingUpstream | undefined;
let sg: RunningShardgate | undefined;
const sockets = new Set<Socket>();

before(async () => {
  if (SKIP !== null) return;
  // Every answer closes its connection: each request needs a fresh dial, as at the limit it must.
  upstream = await startClosingUpstream();
  sg = await startShardgate(atLimitConfig(upstream.port), { args: ["--workers", "2"], timeoutMs: 60_000 });
});

after(async () => {
  for (const s of sockets) s.destroy();
  await stopAll();
  await upstream?.close();
});

async function workerEntries(running: RunningShardgate): Promise<Entry[]> {
  const st = await fetchJson(`${running.adminUrl}/admin/state`);
  return (st.body as { workers: Entry[] }).workers;
}

test("workers: 2 at the workers' descriptor limit: 503 local_resource_exhausted, and each worker's descriptors in /admin/state", {
  skip: SKIP ?? false,
}, async () => {
  assert.ok(sg !== undefined);
  const running = sg;
  const port = Number(new URL(running.httpUrl).port);
  const pids = (await allWorkersAt(running, 2, 1)).map((w) => w.pid);
  const limits = new Map<number, number>();
  for (const pid of pids) {
    assert.ok(pid !== null);
    const limit = highestFd(pid) + 1 + HEADROOM;
    setSoftFdLimit(pid, limit);
    limits.set(pid, limit);
  }
  // Each worker's sampler reads its new limit within 2 s; its beat brings it to the primary.
  await eventually(
    "each worker's own limit in its /admin/state entry",
    async () => {
      const ws = await workerEntries(running);
      return ws.every((w) => w.pid !== null && w.descriptors?.limit === limits.get(w.pid)) ? ws : undefined;
    },
    15_000,
  );

  // The kernel hands each connection to whichever worker accepts first: open connections until
  // neither worker has a number free below its limit (a hole under a high descriptor counts).
  const free = () => [...limits].reduce((n, [pid, limit]) => n + freeBelow(pid, limit), 0);
  const held: Socket[] = [];
  const topUp = async () => {
    for (let n = free(); n > 0; n = free()) {
      assert.ok(sockets.size + n <= MAX_CLIENTS, `${sockets.size + n} client connections needed`);
      for (const s of await Promise.all(Array.from({ length: n }, () => openClient(port, sockets))))
        if (s !== null) held.push(s);
    }
  };
  await topUp();
  // More past the limit: the workers' libuv closes these at once.
  const extra = await Promise.all(Array.from({ length: 20 }, () => openClient(port, sockets)));
  await eventually("a connection past the limit closed", () =>
    extra.some((s) => s === null || s.destroyed) ? true : undefined,
  );

  const refused: string[] = [];
  let asked = 0;
  for (const s of held) {
    if (refused.length === ASKED || asked === MAX_ASKS) break;
    if (s.destroyed) continue;
    await topUp();
    asked++;
    const a = await askRaw(s, GET_AT_LIMIT);
    if (a !== "closed" && !a.startsWith("HTTP/1.1 200")) refused.push(a);
  }
  assert.equal(refused.length, ASKED, `${asked} asked`);
  for (const a of refused) {
    assert.match(a, /^HTTP\/1\.1 503 /, a);
    assert.match(a, /"error":"local_resource_exhausted"/, a);
  }

  // The workers met the limit, not the primary: their entries say so, with their own limits.
  const ws = await eventually(
    "the workers' shortages in /admin/state",
    async () => {
      const entries = await workerEntries(running);
      const sum = entries.reduce((n, w) => n + (w.descriptors?.exhausted ?? 0), 0);
      return sum >= ASKED ? entries : undefined;
    },
    15_000,
  );
  for (const w of ws) {
    assert.ok(w.pid !== null && w.descriptors !== undefined, JSON.stringify(w));
    assert.equal(w.descriptors.limit, limits.get(w.pid), JSON.stringify(w));
  }
  assert.ok(
    ws.some((w) => w.descriptors?.last?.op === "upstream_connect" && w.descriptors.last.code === "EMFILE"),
    JSON.stringify(ws),
  );
  // `ctl status` names the worker that met its limit (the primary met none: no row for it).
  const status = await runCtl(["status", "--admin", running.adminUrl]);
  assert.ok(status.code === 0, `ctl status: ${status.code} ${status.stderr}`);
  const short = ws.filter((w) => (w.descriptors?.exhausted ?? 0) > 0);
  assert.ok(short.length > 0, JSON.stringify(ws));
  for (const w of short)
    assert.match(
      status.stdout,
      new RegExp(
        `worker ${w.worker} \\(pid ${w.pid}\\)\\s+\\S+\\s+${w.descriptors?.limit}\\s+(yes|no)\\s+\\d+\\s+`,
      ),
      `ctl status names worker ${w.worker} at its limit:\n${status.stdout}`,
    );
  assert.doesNotMatch(status.stdout, /\bprimary\b/, status.stdout);
  const state = await fetchJson(`${running.adminUrl}/admin/state`);
  const primary = (state.body as { descriptors: Descriptors }).descriptors;
  assert.equal(primary.exhausted, 0, `the primary met no shortage: ${JSON.stringify(primary)}`);
  const metrics = await (await fetch(`${running.adminUrl}/metrics`)).text();
  // One series per worker (its `worker` label), so the alert names the process at its limit; the
  // primary met none, so there is no series without the label.
  let counted = 0;
  for (const w of ws) {
    const v =
      metricValue(metrics, "shardgate_local_resource_exhausted_total", {
        op: "upstream_connect",
        worker: String(w.worker),
      }) ?? 0;
    if ((w.descriptors?.last?.op ?? "") === "upstream_connect")
      assert.ok(v > 0, `worker ${w.worker}'s own series:\n${metrics}`);
    counted += v;
  }
  assert.ok(counted >= ASKED, `each dial's shortage counted (${counted} of ${ASKED})`);
  assert.equal(
    metricValue(metrics, "shardgate_local_resource_exhausted_total", { op: "upstream_connect" }),
    undefined,
    "no unlabelled series: the primary met no shortage",
  );
  assert.equal(
    metricValue(metrics, "shardgate_upstream_errors_total", { pool: "users", member: "s1", kind: "reset" }) ??
      0,
    0,
  );

  // The clients leave; the limits stay. The workers serve new connections again.
  for (const s of sockets) s.destroy();
  sockets.clear();
  await eventually("a 200 under the same limits once the clients left", async () => {
    try {
      const res = await fetch(`${running.httpUrl}/after`, { headers: { "x-user-id": "k" } });
      await res.text();
      return res.status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  });
  assert.equal(running.proc.exit, undefined, "still running");
});
