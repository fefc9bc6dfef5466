// Tried from the outside: SIGTERM must end the process within the drain deadline whatever is
// blocked. Found: a config that is a FIFO whose writer opened it and never wrote held the exit
// for ever, at start (the held stop waited for a start that never completed) and in a reload
// (the read parked a thread-pool thread in read(2), and a process exit joins the pool); the
// earlier release (open and close a writer) only freed a reader with no writer at all. Now
// the config is read as a non-blocking pipe (config/file/read-text.ts) and every stop has
// one bound, the drain deadline plus 5 s (proxy/app/stop-deadline.ts). Also tried, and held
// to the same bound here: a request in flight to an upstream that never answers, a Consul
// agent that accepts and never answers, admin clients that trickle or never read.
// Real shardgate processes, --drain-timeout 1s; every process and socket is ended.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { closeSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fifoWriter } from "../support/fifo-config.js";
import { oneMemberConfig } from "../support/minimal-config.js";
import { poolConfig, ShardgateChild, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, startUpstreams } from "../support/upstreams.js";
import { waitFor } from "../support/wait.js";

const dir = mkdtempSync(join(tmpdir(), "shardgate-stop-deadline-"));
const fds: number[] = [];
const sockets = new Set<Socket>();
after(async () => {
  for (const s of sockets) s.destroy();
  for (const fd of fds) closeSync(fd);
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const DRAIN = ["--drain-timeout", "1s"];
/** Drain 1 s + the 5 s close allowance, with room for a loaded machine; the old code never exited. */
const EXIT_BOUND_MS = 30_000;

/** A writer that opens the FIFO once it is being read and never writes (held until the file ends). */
async function silentWriter(fifo: string, what: string): Promise<void> {
  fds.push(await fifoWriter(fifo, what));
}

test("SIGTERM during a reload of a FIFO config whose writer never writes: exit 0 in bounded time", {
  timeout: 120_000,
}, async () => {
  const config = join(dir, "reload.yaml");
  writeFileSync(config, oneMemberConfig());
  const child = new ShardgateChild(["start", "--config", config, "--data-dir", join(dir, "d1"), ...DRAIN]);
  try {
    await child.waitForLine("the listening line", (l) => l.msg === "listening", 60_000);
    unlinkSync(config);
    execFileSync("mkfifo", [config]);
    child.signal("SIGHUP");
    await silentWriter(config, "the reload reading the FIFO");
    child.signal("SIGTERM");
    const exit = await child.waitExit(EXIT_BOUND_MS);
    assert.deepEqual(exit, { code: 0, signal: null }, child.stderr);
  } finally {
    await child.stop(1_000);
  }
});

test("SIGTERM while start reads a FIFO config whose writer never writes: exit 1 with stop_deadline", {
  timeout: 120_000,
}, async () => {
  const config = join(dir, "start.fifo");
  execFileSync("mkfifo", [config]);
  // The close allowance shortened to 1 s: this case tries that the held stop ends at the bound,
  // "the stop bound itself" below that the bound is drain + STOP_CLOSE_MS (5 s: test-duration.test.ts).
  const child = new ShardgateChild(["start", "--config", config, "--data-dir", join(dir, "d2"), ...DRAIN], {
    env: { SHARDGATE_TEST_STOP_CLOSE_MS: "1000" },
  });
  try {
    await silentWriter(config, "start reading the FIFO");
    child.signal("SIGTERM");
    const exit = await child.waitExit(EXIT_BOUND_MS);
    assert.equal(exit.code, 1, child.stderr);
    assert.match(child.stderr, /stop_deadline: the start did not complete within 2000 ms of SIGTERM/);
  } finally {
    await child.stop(1_000);
  }
});

test("SIGTERM with a hung upstream, a silent Consul agent and Redis, stuck admin clients: exit 0 in bounded time", {
  timeout: 120_000,
}, async () => {
  const [upstream] = await startUpstreams(1);
  upstream.mode = { kind: "delayHeaders", ms: 600_000 };
  // A Consul agent that accepts and never answers a byte.
  const consulSockets = new Set<Socket>();
  const consul: Server = createServer((s) => {
    consulSockets.add(s);
    s.on("error", () => {});
    s.on("close", () => consulSockets.delete(s));
  });
  await new Promise<void>((r) => consul.listen(0, "127.0.0.1", r));
  const consulPort = (consul.address() as { port: number }).port;
  try {
    // The same silent server stands for a Redis that accepts and never answers.
    const yaml = `${poolConfig({ members: [{ id: "m1", port: upstream.port }] })}
discovery:
  consul: { address: "http://127.0.0.1:${consulPort}" }
redis: { url: "redis://127.0.0.1:${consulPort}" }
`
      .replace(
        "    key: [header:x-user-id, query:user, ip]\n",
        "    key: [header:x-user-id, query:user, ip]\n    rateLimit: { limit: 1000, window: 1s, store: redis, onStoreError: open }\n",
      )
      .replace("routes:\n", "  quiet:\n    discovery: { consul: { service: quiet-api } }\nroutes:\n");
    const sg = await startShardgate(yaml, { args: DRAIN });
    const http = Number(new URL(sg.httpUrl).port);
    const admin = Number(new URL(sg.adminUrl).port);
    const hold = (port: number, first: string): Socket => {
      const s = connect(port, "127.0.0.1");
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
      s.write(first);
      return s;
    };
    // A request in flight (the upstream never answers), an admin slowloris, and an admin
    // client that asks for /metrics with its receive window closed (it never reads).
    hold(http, "GET /hung HTTP/1.1\r\nHost: x\r\nx-user-id: u\r\n\r\n");
    hold(admin, "GET /readyz HTTP/1.1\r\nHost: x\r\n");
    hold(admin, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").pause();
    await waitFor(() => upstream.requests > 0, "the request in flight upstream", 30_000);
    await waitFor(() => consulSockets.size > 0, "the Consul watch connected and waiting", 30_000);
    sg.proc.signal("SIGTERM");
    const exit = await sg.proc.waitExit(EXIT_BOUND_MS);
    assert.deepEqual(exit, { code: 0, signal: null }, sg.proc.stderr);
    await sg.stop();
  } finally {
    for (const s of consulSockets) s.destroy();
    consul.close();
    await closeAll([upstream]);
  }
});

test("the stop bound itself: a stop stuck on something with no bound of its own exits 1 after drain + the close allowance", {
  timeout: 60_000,
}, async () => {
  // No stuck step of a running stop is known any more; this holds the backstop to its word in
  // a real process: a stop waiting on a promise that never settles, with a live handle. The
  // allowance is shortened to 1 s (its 5 s default is test-duration.test.ts's): what this holds
  // is that the backstop fires, and not before drain + the allowance in effect.
  const module = new URL("../../proxy/app/stop-deadline.js", import.meta.url).href;
  const script = `
    import { armStopDeadline, STOP_CLOSE_MS } from ${JSON.stringify(module)};
    const started = Date.now();
    setInterval(() => {}, 1000); // something that holds the event loop
    armStopDeadline(200, () => { process.stdout.write("expired " + (Date.now() - started) + " " + STOP_CLOSE_MS + "\\n"); });
    await new Promise(() => {}); // the stop that never finishes
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: "pipe",
    env: { ...process.env, SHARDGATE_TEST_STOP_CLOSE_MS: "1000" },
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  clearTimeout(killer);
  assert.equal(code, 1, out);
  const m = /^expired (\d+) (\d+)$/m.exec(out);
  assert.ok(m !== null, out);
  const [elapsed, close] = [Number(m[1]), Number(m[2])];
  assert.equal(close, 1000, "the shortened allowance in effect");
  assert.ok(elapsed >= 200 + close, `expired after ${elapsed} ms, not before drain + ${close} ms`);
});
