// With `workers: 2`, a worker the supervisor restarts used to load the operator's config file
// itself. Once that file was broken (a SIGHUP then refused, the running config kept), the new
// worker failed ("the config file no longer loads") and the instance served on one worker; once
// it was edited validly but not reloaded, the new worker ran a config its sibling did not. A
// worker now starts on the config the primary validated and runs. A real process on loopback:
// the file is broken and the reload refused, worker 0 is killed and must serve with the running
// config; the file is then edited (a different member header) without a reload, worker 1 is
// killed and must still answer with the running header. Last, an accepted reload turns member
// histograms off: the running worker follows it, and so does one restarted after it.

import assert from "node:assert/strict";
import { request } from "node:http";
import { after, test } from "node:test";
import {
  fetchJson,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";
import { allWorkersAt, servingPids, workerViews } from "../support/workers.js";

after(() => stopAll());

/** Requests sent until the restarted worker answered some: the kernel picks the accepting worker. */
const MAX_REQUESTS = 400;

/** GET / on a connection of its own; resolves with the status and the response's header names. */
function getFresh(
  httpUrl: string,
  key: string,
): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${httpUrl}/`,
      { agent: false, headers: { "x-user-id": key, connection: "close" }, timeout: 20_000 },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 20 s")));
    req.on("error", reject);
    req.end();
  });
}

async function scrape(adminUrl: string): Promise<string> {
  const r = await fetchJson(`${adminUrl}/metrics`);
  assert.equal(r.status, 200);
  return r.text;
}

/** Kills worker `w` and waits until its replacement listens (or fails: the old behaviour). */
async function killAndRestart(sg: RunningShardgate, w: number): Promise<number> {
  const old = (await workerViews(sg))[w].pid;
  assert.ok(old !== null, `worker ${w} has no pid`);
  const from = sg.proc.lines.length;
  process.kill(old, "SIGKILL");
  const outcome = await sg.proc.waitFor(
    `worker ${w} restarted or failed to start`,
    () =>
      sg.proc.lines
        .slice(from)
        .find(
          (l) =>
            l.worker === w && (l.msg === "worker restarted" || l.msg === "restarted worker failed to start"),
        ),
    60_000,
  );
  assert.equal(
    outcome.msg,
    "worker restarted",
    `worker ${w}: ${JSON.stringify(outcome)}\n${sg.proc.output()}`,
  );
  const view = await eventually(
    `worker ${w} up under a new pid`,
    async () => {
      const v = (await workerViews(sg))[w];
      return v.pid !== null && v.pid !== old ? v : undefined;
    },
    60_000,
    100,
  );
  assert.ok(view.pid !== null);
  return view.pid;
}

/** Requests until `pid` served one (bounded); every answer must carry the running member header. */
async function servedWithRunningHeader(sg: RunningShardgate, pid: number, tag: string): Promise<void> {
  const from = sg.proc.lines.length;
  for (let i = 0; i < MAX_REQUESTS; i++) {
    const r = await getFresh(sg.httpUrl, `${tag}${i}`);
    assert.equal(r.status, 200);
    assert.ok(
      typeof r.headers["x-member"] === "string",
      `answer ${i} has no x-member: ${JSON.stringify(r.headers)}`,
    );
    assert.equal(r.headers["x-served-by"], undefined, `answer ${i} used the unreloaded file's header`);
    // The access line is written once the answer is sent: wait for it before counting pids.
    await sg.proc.waitFor(`access line of request ${i}`, () =>
      sg.proc.lines.slice(from).filter((l) => l.type === "access").length > i ? true : undefined,
    );
    if (servingPids(sg.proc.lines, from).has(pid)) return;
  }
  assert.fail(`the restarted worker (pid ${pid}) served none of ${MAX_REQUESTS} requests`);
}

test("workers: 2, a restarted worker runs the running config, not a broken or unreloaded file", async (t) => {
  const ups = await startUpstreams(2, "k");
  t.after(() => closeAll(ups));
  const members = ups.map((u) => ({ id: u.id, port: u.port }));
  const running = `${poolConfig({ members })}headers:\n  memberHeader: x-member\n`;
  const sg = await startShardgate(running, { args: ["--workers", "2"], timeoutMs: 60_000 });
  t.after(() => sg.stop());
  await allWorkersAt(sg, 2, 1);

  // A half-written file: the reload is refused and the running config kept.
  sg.config.write(running.slice(0, running.indexOf("routes:")).concat("routes: [\n"));
  const refusedFrom = sg.proc.lines.length;
  sg.proc.signal("SIGHUP");
  await sg.proc.waitFor("the refused reload", () =>
    sg.proc.lines.slice(refusedFrom).find((l) => String(l.msg).startsWith("config reload rejected")),
  );
  const first = await killAndRestart(sg, 0);
  await allWorkersAt(sg, 2, 1);
  await servedWithRunningHeader(sg, first, "a");

  // A valid edit nobody reloaded: the restarted worker must not be the only one running it.
  sg.config.write(`${poolConfig({ members })}headers:\n  memberHeader: x-served-by\n`);
  const second = await killAndRestart(sg, 1);
  await allWorkersAt(sg, 2, 1);
  await servedWithRunningHeader(sg, second, "b");

  // An accepted reload reaches the running workers and every worker started later: with member
  // histograms turned off, none of the two exports one (each worker decides at the scrape; no
  // scrape came before, so no killed worker's series is carried: metrics-carry.ts).
  const histograms = (text: string): string[] =>
    text.split("\n").filter((l) => l.startsWith("shardgate_member_request_duration_seconds_count"));
  sg.config.write(`${running}metrics:\n  memberHistograms: "off"\n`);
  const reloadFrom = sg.proc.lines.length;
  sg.proc.signal("SIGHUP");
  await sg.proc.waitFor("the accepted reload", () =>
    sg.proc.lines.slice(reloadFrom).find((l) => l.msg === "config reloaded"),
  );
  const third = await killAndRestart(sg, 0);
  await allWorkersAt(sg, 2, 1);
  await servedWithRunningHeader(sg, third, "c");
  assert.deepEqual(
    histograms(await scrape(sg.adminUrl)),
    [],
    "a worker exports member histograms after the reload",
  );
});
