// With `workers: 2` and listen.tls, every worker read the listener's certificate files itself,
// a restarted one too: once the files were replaced by broken ones (or removed) while the
// instance ran, its siblings kept serving the pair they had loaded and a worker the supervisor
// restarted failed to start ("cannot load TLS certificate"), leaving the instance on one worker.
// Now only the primary reads the files and hands the pairs it last loaded whole to each worker
// (at start and at every change, certificate-store.ts). A real process on loopback: a valid
// rotation (v1 to v2) reaches both workers; the files are then broken, worker 0 is killed and
// must serve v2; a SIGHUP then re-reads them and is refused (the running pair kept); the files
// are removed, worker 1 is killed and must serve v2 too.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { TLSSocket } from "node:tls";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { makeCa } from "../support/test-ca.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";
import { allWorkersAt, servingPids, workerViews } from "../support/workers.js";

const work = mkdtempSync(join(tmpdir(), "shardgate-worker-certs-"));
after(async () => {
  await stopAll();
  rmSync(work, { recursive: true, force: true });
});

/** Requests sent until a worker answered some: the kernel picks the accepting worker. */
const MAX_REQUESTS = 400;

/** GET / over TLS on a connection of its own: the status and the common name the handshake presented. */
function getTls(port: number, key: string): Promise<{ status: number; cn: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/",
        agent: false,
        rejectUnauthorized: false,
        headers: { "x-user-id": key, connection: "close" },
        timeout: 20_000,
      },
      (res) => {
        const cn = String((res.socket as TLSSocket).getPeerCertificate().subject?.CN ?? "");
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, cn }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 20 s")));
    req.on("error", reject);
    req.end();
  });
}

/** Requests until `pid` served one (bounded); every answer must present `cn`. */
async function servedWith(sg: RunningShardgate, port: number, pid: number, cn: string, tag: string) {
  const from = sg.proc.lines.length;
  for (let i = 0; i < MAX_REQUESTS; i++) {
    const r = await getTls(port, `${tag}${i}`);
    assert.equal(r.status, 200);
    assert.equal(r.cn, cn, `answer ${i} presented ${r.cn}, not ${cn}`);
    await sg.proc.waitFor(`access line of request ${i}`, () =>
      sg.proc.lines.slice(from).filter((l) => l.type === "access").length > i ? true : undefined,
    );
    if (servingPids(sg.proc.lines, from).has(pid)) return;
  }
  assert.fail(`worker pid ${pid} served none of ${MAX_REQUESTS} requests`);
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
  assert.equal(outcome.msg, "worker restarted", `worker ${w}: ${JSON.stringify(outcome)}`);
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

test("workers: 2, a restarted worker serves the pair its siblings serve, whatever the files hold now", async (t) => {
  for (const n of ["v1", "v2"]) makeCa(work, n, n);
  const certs = join(work, "certs");
  mkdirSync(certs);
  const cert = join(certs, "cur.pem");
  const key = join(certs, "cur.key");
  // Renamed into place (a new inode): read at once, without the settle wait for in-place writes.
  const install = async (name: string): Promise<void> => {
    for (const [ext, to] of [
      ["pem", cert],
      ["key", key],
    ] as const) {
      await copyFile(join(work, `${name}.${ext}`), `${to}.new`);
      rmSync(to, { force: true });
      await copyFile(`${to}.new`, to);
    }
  };
  await install("v1");
  const ups = await startUpstreams(1, "m");
  t.after(() => closeAll(ups));
  const yaml = poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })) }).replace(
    "  admin: 127.0.0.1:0\n",
    `  admin: 127.0.0.1:0\n  tls: { cert: ${cert}, key: ${key} }\n`,
  );
  const sg = await startShardgate(yaml, { args: ["--workers", "2"], timeoutMs: 60_000 });
  t.after(() => sg.stop());
  const port = Number(new URL(sg.httpUrl).port);
  const views = await allWorkersAt(sg, 2, 1);
  assert.equal((await getTls(port, "first")).cn, "v1");

  // A valid rotation: both running workers serve the new pair.
  await install("v2");
  for (const v of views) {
    assert.ok(v.pid !== null);
    await eventually(
      `worker ${v.worker} serving v2`,
      async () => {
        try {
          await servedWith(sg, port, v.pid as number, "v2", `r${v.worker}-`);
          return true;
        } catch {
          return undefined;
        }
      },
      60_000,
      200,
    );
  }

  // Broken files: the primary keeps v2 (logged), and a restarted worker serves it.
  const kept = (): number =>
    sg.proc.lines.filter((l) => l.msg === "listener certificate did not load; still serving the previous one")
      .length;
  const keptBefore = kept();
  writeFileSync(`${cert}.new`, "-----BEGIN CERTIFICATE-----\nbroken\n");
  rmSync(cert);
  await copyFile(`${cert}.new`, cert);
  await sg.proc.waitFor("the broken pair refused", () => (kept() > keptBefore ? true : undefined), 30_000);
  const first = await killAndRestart(sg, 0);
  await allWorkersAt(sg, 2, 1);
  await servedWith(sg, port, first, "v2", "a");

  // A reload re-reads the certificates: with one broken it is refused, naming listen.tls and the
  // file, and every worker keeps serving v2.
  const hupFrom = sg.proc.lines.length;
  sg.proc.signal("SIGHUP");
  const outcome = await sg.proc.waitFor("the reload's outcome", () =>
    sg.proc.lines
      .slice(hupFrom)
      .find((l) => l.msg === "config reloaded" || String(l.msg).startsWith("config reload rejected")),
  );
  assert.match(
    String(outcome.msg),
    /^config reload rejected, keeping the running config:\n.*listen\.tls: cannot load TLS certificate: .*cur\.pem/,
  );
  await servedWith(sg, port, first, "v2", "h");

  // The files gone: the same.
  rmSync(certs, { recursive: true, force: true });
  const second = await killAndRestart(sg, 1);
  await allWorkersAt(sg, 2, 1);
  await servedWith(sg, port, second, "v2", "b");
});
