// proxy/app/descriptor-limits.ts in a node:cluster worker, as `workers: N` runs it (every worker
// accepts on the shared socket: SCHED_NONE, proxy/workers/supervisor.ts). At the descriptor
// limit with libuv's spare descriptor gone, a listener's accept error makes it stop accepting
// and listen again after 1 s. In a worker that listen asked the primary for the bound port by
// number, while the shared handle is keyed by the address first asked (port 0 here, as the
// tests configure it): the primary tried to bind that port a second time, EADDRINUSE, and the
// worker logged "could not listen again ... restart the instance" and accepted nothing until
// restarted. Now the worker listens again at the address as configured and rejoins the shared
// handle: same port, and it serves (checked with the other worker's listener closed).
// Two real cluster workers (test/support/relisten-worker.ts); the accept error is the event as
// Node emits it (the state cannot be forced from outside: descriptor-relisten.test.ts).

import assert from "node:assert/strict";
import cluster, { type Worker } from "node:cluster";
import { request } from "node:http";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { eventually } from "../support/wait.js";

type Report = { t: string; [k: string]: unknown };

const workers: Worker[] = [];
after(() => {
  for (const w of workers) if (!w.isDead()) w.kill();
});

function fork(): { worker: Worker; reports: Report[] } {
  const worker = cluster.fork();
  workers.push(worker);
  const reports: Report[] = [];
  worker.on("message", (m: Report) => reports.push(m));
  return { worker, reports };
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => {
        body += d.toString();
      });
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 10 s")));
    req.on("error", reject);
    req.end();
  });
}

const reportOf = (reports: Report[], t: string) => () => reports.find((r) => r.t === t);

test("a cluster worker whose accept failed listens again on the shared port and serves", async () => {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({
    exec: fileURLToPath(new URL("../support/relisten-worker.js", import.meta.url)),
    args: [],
  });
  const a = fork();
  const b = fork();
  const la = await eventually("worker a listening", reportOf(a.reports, "listening"), 30_000);
  const lb = await eventually("worker b listening", reportOf(b.reports, "listening"), 30_000);
  assert.equal(la.port, lb.port, "one shared port");

  a.worker.send({ t: "accept-error" });
  const r = await eventually("worker a's re-listen", reportOf(a.reports, "relisten"), 30_000);
  assert.equal(r.closed, true, "it stopped accepting");
  assert.deepEqual(r.errors, [], JSON.stringify(r));
  assert.equal(r.listening, true, JSON.stringify(r));
  assert.equal(r.after, la.port, "the same shared port");

  // Only a listens now: every new connection is a's.
  b.worker.send({ t: "close" });
  await eventually("worker b closed", reportOf(b.reports, "closed"), 30_000);
  const pid = String(a.worker.process.pid);
  for (let i = 0; i < 3; i++) assert.equal(await get(la.port as number), pid);
});
