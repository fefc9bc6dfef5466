// HTTP/2 through shardgate against a bare HTTP/2 forwarder, in one run: `npm run bench -- h2
// [--seconds 5] [--rounds 3] [--sessions 4] [--streams 32] [--member-streams N]
// [--upstream-ms D] [--max-sessions M]`.
//
// `--member-streams N`: the upstream advertises SETTINGS_MAX_CONCURRENT_STREAMS N (a gRPC server
// often says 100); `--upstream-ms D`: it answers each request D ms after its end (a member doing
// work), so a stream limit caps throughput at N / D per session; `--max-sessions M`: shardgate's
// pool sets `http2.maxSessions` (sessions per member address; default 8). The bare peer keeps
// its one session, so with a small N it shows what one session per member gives.
//
// Three child processes besides the load generator (this process): an h2c echo upstream,
// shardgate's listener + data plane over a `protocol: h2c` pool of that upstream (h2c prior
// knowledge in, one session per member out), and the peer: a bare Node forwarder (http2
// server, one http2.connect session, stream piped to stream, nothing else). Interleaved rounds
// of `sessions` h2c client sessions keeping `streams` requests each in flight; medians of
// req/s and p99 per proxy, and shardgate's ratio to the peer. Everything shares the cores:
// read the ratio, not the absolute figures, and say the load (uptime) next to it.

import { type ChildProcess, fork } from "node:child_process";
import { connect, createServer, type IncomingHttpHeaders } from "node:http2";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { configSchema } from "../config/file/schema.js";
import { createDataPlane } from "../proxy/forward/data-plane.js";
import { buildRoutingState, createRoutingStateHolder } from "../proxy/routing/routing-state.js";
import { createProxyServer } from "../proxy/server/proxy-server.js";
import { runIfMain } from "./run-if-main.js";

const SILENT = { debug() {}, info() {}, warn() {}, error() {} };
const BODY = Buffer.alloc(256, 0x61);

function arg(argv: string[], name: string, dflt: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
}

async function listenH2(server: ReturnType<typeof createServer>): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

/** Child roles: each prints its port on stdout's IPC channel and runs until killed. */
async function role(name: string, upstreamPort: number, argv: string[]): Promise<number> {
  if (name === "upstream") {
    const memberStreams = arg(argv, "member-streams", 0);
    const delayMs = arg(argv, "upstream-ms", 0);
    const server = createServer(
      memberStreams > 0 ? { settings: { maxConcurrentStreams: memberStreams } } : {},
    );
    server.on("stream", (stream) => {
      stream.on("error", () => undefined);
      stream.resume();
      const answer = (): void => {
        if (stream.destroyed) return;
        stream.respond({ ":status": 200, "content-type": "text/plain" });
        stream.end(BODY);
      };
      stream.on("end", () => {
        if (delayMs > 0) setTimeout(answer, delayMs);
        else answer();
      });
    });
    return listenH2(server);
  }
  if (name === "bare") {
    const up = connect(`http://127.0.0.1:${upstreamPort}`);
    up.on("error", () => undefined);
    const server = createServer();
    server.on("stream", (stream, headers: IncomingHttpHeaders) => {
      stream.on("error", () => undefined);
      const out = up.request({ ":method": headers[":method"], ":path": headers[":path"] });
      out.on("error", () => stream.destroy());
      out.on("response", (h) => {
        stream.respond({ ":status": h[":status"], "content-type": h["content-type"] });
        out.pipe(stream);
      });
      stream.pipe(out);
    });
    return listenH2(server);
  }
  const maxSessions = arg(argv, "max-sessions", 0);
  const config = configSchema.parse({
    pools: {
      p: {
        protocol: "h2c",
        members: [{ id: "u", address: `127.0.0.1:${upstreamPort}` }],
        ...(maxSessions > 0 ? { http2: { maxSessions } } : {}),
      },
    },
    routes: [{ pool: "p", key: ["header:x-user-id"] }],
  });
  const holder = createRoutingStateHolder(
    buildRoutingState({ pools: config.pools, routes: config.routes, ringVersion: 1 }),
  );
  // Records are kept as the access log would read them: one field read per request.
  let count = 0;
  const plane = createDataPlane({
    getState: () => holder.get(),
    hooks: {
      onRequestEnd(r) {
        count += r.status;
      },
    },
    logger: SILENT,
  });
  const server = createProxyServer({ dataPlane: plane, logger: SILENT, listen: config.listen });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  void count;
  return (server.address() as AddressInfo).port;
}

function spawnRole(
  name: string,
  upstreamPort: number,
  argv: string[],
): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(
    fileURLToPath(import.meta.url),
    ["--role", name, "--upstream", String(upstreamPort), ...argv],
    { stdio: ["ignore", "inherit", "inherit", "ipc"] },
  );
  return new Promise((resolve, reject) => {
    child.once("message", (m) => resolve({ child, port: Number(m) }));
    child.once("exit", (code) => reject(new Error(`${name} exited ${code}`)));
  });
}

/** One round against `port`: req/s and p99 (ms). */
async function load(
  port: number,
  seconds: number,
  sessions: number,
  streams: number,
): Promise<{ rps: number; p99: number; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  const clients = Array.from({ length: sessions }, () => connect(`http://127.0.0.1:${port}`));
  for (const c of clients) c.on("error", () => undefined);
  let key = 0;
  const loop = (c: ReturnType<typeof connect>): Promise<void> =>
    new Promise((done) => {
      const next = (): void => {
        if (performance.now() >= until) {
          done();
          return;
        }
        const t0 = performance.now();
        const s = c.request({ ":path": "/b", "x-user-id": `k${key++ % 1000}` });
        s.on("error", () => {
          errors++;
          next();
        });
        s.resume();
        s.on("end", () => {
          latencies.push(performance.now() - t0);
          next();
        });
        s.end();
      };
      next();
    });
  const started = performance.now();
  await Promise.all(clients.flatMap((c) => Array.from({ length: streams }, () => loop(c))));
  const took = (performance.now() - started) / 1000;
  for (const c of clients) c.destroy();
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / took,
    p99: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0,
    errors,
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function run(argv: string[]): Promise<number> {
  const r = argv.indexOf("--role");
  if (r >= 0) {
    const port = await role(argv[r + 1], arg(argv, "upstream", 0), argv);
    process.send?.(String(port));
    return 0;
  }
  const seconds = arg(argv, "seconds", 5);
  const rounds = arg(argv, "rounds", 3);
  const sessions = arg(argv, "sessions", 4);
  const streams = arg(argv, "streams", 32);
  const memberStreams = arg(argv, "member-streams", 0);
  const upstreamMs = arg(argv, "upstream-ms", 0);
  const maxSessions = arg(argv, "max-sessions", 0);
  const pass = (name: string, v: number): string[] => (v > 0 ? [`--${name}`, String(v)] : []);
  const up = await spawnRole("upstream", 0, [
    ...pass("member-streams", memberStreams),
    ...pass("upstream-ms", upstreamMs),
  ]);
  const sg = await spawnRole("shardgate", up.port, pass("max-sessions", maxSessions));
  const bare = await spawnRole("bare", up.port, []);
  const results: Record<string, Array<{ rps: number; p99: number; errors: number }>> = {
    shardgate: [],
    bare: [],
  };
  try {
    await load(sg.port, 1, sessions, streams); // warm-up
    await load(bare.port, 1, sessions, streams);
    for (let i = 0; i < rounds; i++) {
      results.shardgate.push(await load(sg.port, seconds, sessions, streams));
      results.bare.push(await load(bare.port, seconds, sessions, streams));
    }
  } finally {
    for (const c of [up, sg, bare]) c.child.kill();
  }
  const row = (name: string) => {
    const xs = results[name];
    return {
      rps: median(xs.map((x) => x.rps)),
      p99: median(xs.map((x) => x.p99)),
      errors: xs.reduce((n, x) => n + x.errors, 0),
    };
  };
  const s = row("shardgate");
  const b = row("bare");
  console.log(
    `h2c client -> proxy -> h2c upstream, ${sessions} sessions x ${streams} streams, ${rounds} rounds of ${seconds} s (medians)` +
      `; member streams ${memberStreams > 0 ? memberStreams : "unlimited"}, upstream delay ${upstreamMs} ms` +
      `, shardgate http2.maxSessions ${maxSessions > 0 ? maxSessions : "default (8)"}`,
  );
  console.log("| proxy | req/s | p99 ms | errors | req/s vs bare |");
  console.log("|---|---|---|---|---|");
  console.log(
    `| bare Node http2 forwarder | ${b.rps.toFixed(0)} | ${b.p99.toFixed(1)} | ${b.errors} | 1.00 |`,
  );
  console.log(
    `| shardgate (protocol: h2c) | ${s.rps.toFixed(0)} | ${s.p99.toFixed(1)} | ${s.errors} | ${(s.rps / b.rps).toFixed(2)} |`,
  );
  return 0;
}

runIfMain(import.meta.url, run);
