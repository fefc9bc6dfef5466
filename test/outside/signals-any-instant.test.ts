// Signals at other instants than start (stop-during-start.test.ts, sighup-during-start.test.ts),
// tried from the outside on real processes. Found:
// - SIGUSR1 opened Node's inspector on 127.0.0.1:9229 ("Debugger listening"): a debugger that
//   runs any code sent to it, on a production proxy. SIGUSR2 ended the process at once.
// - stdout and stderr both closed (EPIPE): the uncaught-exception handler's own lines failed
//   the same way, re-entering it for ever (100% CPU); SIGTERM never ended the process.
// - SIGTERM during a reload whose read blocks (the config path a FIFO nobody writes yet): the
//   drain ran, then the exit joined the thread-pool thread blocked on the FIFO: hung for ever.
// - SIGHUP during the drain started a reload of a leaving instance.
// - SIGTERM to the process group while `workers: 2` start: the workers died of Node's default
//   before their first line ran, and the start failed (exit 1, "worker exited while starting").
// Now: SIGUSR1/2 are logged and ignored, std stream errors are swallowed, a shutdown releases a
// reload's blocked FIFO read (the reload is refused: empty file), SIGHUP while draining is logged and ignored, a worker killed by a stop signal
// while starting is forked again and the primary's held stop drains everything (exit 0).

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  type LogLine,
  poolConfig,
  shardgateArgv,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";

let upstreams: EchoUpstream[] = [];
const dir = mkdtempSync(join(tmpdir(), "shardgate-signals-"));

before(async () => {
  upstreams = await startUpstreams(1);
});

after(async () => {
  await stopAll();
  await closeAll(upstreams);
  rmSync(dir, { recursive: true, force: true });
});

function yaml(): string {
  return poolConfig({ members: [{ id: "m1", port: upstreams[0].port }] });
}

const msg = (text: string) => (l: LogLine) => typeof l.msg === "string" && l.msg.includes(text);

test("SIGUSR1 opens no inspector and SIGUSR2/SIGPIPE end nothing: each is logged, the process serves", async () => {
  const sg = await startShardgate(yaml());
  for (const sig of ["SIGUSR1", "SIGUSR2", "SIGPIPE"] as const) sg.proc.signal(sig);
  await sg.proc.waitForLine("the SIGUSR1 warning", (l) => l.signal === "SIGUSR1" && l.level === "warn");
  await sg.proc.waitForLine("the SIGUSR2 warning", (l) => l.signal === "SIGUSR2" && l.level === "warn");
  assert.doesNotMatch(sg.proc.stderr, /Debugger listening/, "no inspector was opened");
  assert.equal(sg.proc.exit, undefined, sg.proc.output());
  const r = await fetch(`${sg.adminUrl}/readyz`);
  assert.equal(r.status, 200);
  assert.deepEqual(await sg.stop(), { code: 0, signal: null });
});

test("stdout and stderr both closed while running: still serves, SIGTERM exits 0", async () => {
  const sg = await startShardgate(yaml());
  sg.proc.child.stdout?.destroy();
  sg.proc.child.stderr?.destroy();
  // Log lines (an access line per request, a reload) now fail with EPIPE.
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`${sg.httpUrl}/x?user=u${i}`);
    assert.equal(r.status, 200);
  }
  sg.proc.signal("SIGHUP");
  const health = await fetch(`${sg.adminUrl}/healthz`);
  assert.equal(health.status, 200);
  sg.proc.signal("SIGTERM");
  const exit = await sg.proc.waitExit(30_000);
  assert.deepEqual(exit, { code: 0, signal: null });
});

test("SIGTERM during a reload blocked on a FIFO: the read is released, the reload refused, the exit comes", async () => {
  const sg = await startShardgate(yaml());
  const path = sg.config.path;
  rmSync(path);
  execFileSync("mkfifo", [path]);
  sg.proc.signal("SIGHUP");
  await sg.proc.waitForLine("the reload's start", msg("reloading config"));
  // The line comes before the read: on a loaded machine SIGTERM then landed before the load
  // worker had opened the FIFO, so there was no blocked read to release (the exit came, but no
  // refusal). Signal only once the process holds the FIFO open, i.e. the read is blocked.
  const pid = sg.proc.child.pid;
  assert.ok(pid !== undefined);
  await eventually("the reload's read blocked on the FIFO", () =>
    readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false;
      }
    })
      ? true
      : undefined,
  );
  sg.proc.signal("SIGTERM");
  const exit = await sg.proc.waitExit(30_000);
  assert.deepEqual(exit, { code: 0, signal: null }, sg.proc.output());
  assert.ok(sg.proc.lines.some(msg("config reload rejected")), sg.proc.output());
});

test("SIGHUP during the drain: no reload, the drain finishes and exits 0", async () => {
  const sg = await startShardgate(yaml());
  upstreams[0].mode = { kind: "delay", ms: 3_000 };
  try {
    // One request in flight holds the drain open.
    const seen = upstreams[0].requests;
    const inFlight = new Promise<number>((resolve, reject) => {
      const req = request(`${sg.httpUrl}/slow?user=a`, { agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end();
    });
    await eventually("the request reached the upstream", () =>
      upstreams[0].requests > seen ? true : undefined,
    );
    sg.proc.signal("SIGTERM");
    await sg.proc.waitForLine("the drain", msg("shutting down: draining"));
    sg.proc.signal("SIGHUP");
    await sg.proc.waitForLine("the SIGHUP refusal", msg("SIGHUP during shutdown: no reload"));
    assert.equal(await inFlight, 200, "the in-flight request finished");
    assert.deepEqual(await sg.proc.waitExit(30_000), { code: 0, signal: null }, sg.proc.output());
    assert.ok(!sg.proc.lines.some(msg("reloading config")), sg.proc.output());
  } finally {
    upstreams[0].mode = { kind: "echo" };
  }
});

test("workers: 2, SIGTERM to the whole process group while the workers start: exit 0, no worker left", {
  timeout: 90_000,
}, async () => {
  const config = join(dir, "workers.yaml");
  writeFileSync(config, `${yaml()}workers: 2\n`);
  const argv = shardgateArgv(["start", "--config", config]);
  // Its own process group, as a service manager or a terminal gives it.
  const child = spawn(argv.command, argv.args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const pid = child.pid as number;
  let workers: string[] = [];
  try {
    // The instant the first worker process exists: it has run no JavaScript yet.
    workers = await eventually(
      "a forked worker",
      () => {
        try {
          const kids = execFileSync("pgrep", ["-P", String(pid)])
            .toString()
            .trim()
            .split("\n");
          return kids.length > 0 && kids[0] !== "" ? kids : undefined;
        } catch {
          return undefined;
        }
      },
      45_000,
      2,
    );
    process.kill(-pid, "SIGTERM");
    const exit = await Promise.race([
      exited,
      new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 60_000).unref()),
    ]);
    assert.deepEqual(exit, { code: 0, signal: null }, out);
    assert.match(out, /"msg":"shutdown complete"/, out);
    for (const w of workers) {
      await eventually(`worker ${w} gone`, () => {
        try {
          process.kill(Number(w), 0);
          return undefined;
        } catch {
          return true;
        }
      });
    }
  } finally {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});
