// Tried from the outside: clients that ask for big answers and never read them held one of the
// member address's 256 upstream connections each until listen.timeouts.send (3 HTTP/2
// connections of 100 zero-window streams, or 256 slow HTTP/1.1 readers, all from one address),
// and every other client then waited for a socket until the pool's response timeout: 504 after
// 30 s. Now listen.maxUpstreamPerClient (default 64, proxy/forward/client-share.ts) once half
// the address's connections are in use: the attacker's address holds at most 128 of them (the
// half any client may take, then nothing past its 64), its further requests are answered 503
// client_share_exceeded at once, and a client on another address is served. Small answers are
// read whole from the member whatever the client does, so they never hold a share. Real
// shardgate process, real HTTP/1.1 upstream, raw client sockets; the bystander connects from
// 127.0.0.2 (loopback, another client address). Send timeout 60 s: nothing is freed by it here;
// keepAlive 2 s bounds how long an h2 session outlives its client's bare FIN (h2-client-fin.ts),
// so each test's attacker is gone before the next starts.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { get } from "node:http";
import { connect, type Socket } from "node:net";
import { after, afterEach, before, test } from "node:test";
import { type BytesServed, type BytesUpstream, startBytesUpstream } from "../support/bytes-upstream.js";
import { readServerFrames, type ServerFrames } from "../support/h2-frame-reader.js";
import { frame, literal } from "../support/h2-frames.js";
import {
  metricValue,
  poolConfig,
  type RunningShardgate,
  startShardgate,
  stopAll,
} from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

/** The default share: a quarter of the 256 connections of a member address. */
const SHARE = 64;
/** What one address gets before the share applies: half the 256 (client-share.ts unsharedConnections). */
const ATTACKER_HOLDS = 128;
const BIG = 64 * 1024 * 1024;
const SMALL = 4 * 1024;
const H2_CONNECTIONS = 3;
const STREAMS = 100;
const H1_READERS = 300;
/** Never-reading clients sent at once in the small-answer test: half the share. */
const WAVE = SHARE / 2;
const SMALL_H2_CONNECTIONS = 4;

let upstream: BytesUpstream;
let sg: RunningShardgate;
let port = 0;
let sockets = new Set<Socket>();

function configYaml(): string {
  return poolConfig({ members: [{ id: "m1", port: upstream.port }], accessLog: false }).replace(
    "  admin: 127.0.0.1:0\n",
    "  admin: 127.0.0.1:0\n  timeouts: { headers: 60s, request: 120s, idle: 120s, keepAlive: 2s, send: 60s }\n",
  );
}

before(async () => {
  upstream = await startBytesUpstream();
  sg = await startShardgate(configYaml());
  port = Number(new URL(sg.httpUrl).port);
});

/** Where the running test's upstream requests start in upstream.served. */
let attackFrom = 0;

function startAttack(): number {
  attackFrom = upstream.served.length;
  return attackFrom;
}

// Each test's attacker goes, and its held requests end, before the next test starts.
afterEach(() => dropAttacker(attackFrom));

after(async () => {
  for (const s of sockets) s.destroy();
  await stopAll();
  await upstream.close();
});

/** shardgate_downstream_client_errors_total{code="client_share_exceeded"} now. */
async function refusedCount(): Promise<number> {
  const text = await (await fetch(`${sg.adminUrl}/metrics`)).text();
  return (
    metricValue(text, "shardgate_downstream_client_errors_total", { code: "client_share_exceeded" }) ?? 0
  );
}

function rssKiB(): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${sg.proc.child.pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0);
}

/** Upstream requests of `path` seen since `from` (an index into upstream.served). */
function since(from: number, path: string): BytesServed[] {
  return upstream.served.slice(from).filter((r) => r.path === path);
}

/** Cuts the attacker's sockets and waits until the upstream saw each of its requests end. */
async function dropAttacker(from: number): Promise<void> {
  for (const s of sockets) s.destroy();
  sockets = new Set();
  await eventually("the attacker's upstream requests ended", () =>
    upstream.served.slice(from).every((r) => r.finished || r.abortedAt >= 0) ? true : undefined,
  );
}

/** A GET from `localAddress`, read whole. */
function fetchFrom(
  localAddress: string,
  path: string,
): Promise<{ status: number; bytes: number; body: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = get(
      { host: "127.0.0.1", port, localAddress, path, agent: false, headers: { "x-user-id": "bystander" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            bytes: body.length,
            body: body.length < 4096 ? body.toString() : "",
            ms: Math.round(performance.now() - t0),
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
  });
}

/** An h2c connection that sets its streams' window to 0 and opens `STREAMS` GETs of `path`. */
function zeroWindowClient(path: string, streams = STREAMS): ServerFrames {
  const s = connect(port, "127.0.0.1");
  sockets.add(s);
  s.on("error", () => {});
  const frames = readServerFrames(s);
  const block = Buffer.concat([
    Buffer.from([0x82, 0x86]), // :method GET, :scheme http
    literal(":path", path),
    literal(":authority", "a"),
    literal("x-user-id", "attacker"),
  ]);
  const out: Buffer[] = [Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")];
  out.push(frame(4, 0, 0, Buffer.from([0, 4, 0, 0, 0, 0]))); // SETTINGS_INITIAL_WINDOW_SIZE = 0
  for (let i = 0; i < streams; i++) out.push(frame(1, 0x5, 2 * i + 1, block));
  s.write(Buffer.concat(out));
  return frames;
}

/** HTTP/1.1 clients that send GET `path` and stop reading after the first bytes; their status codes. */
function slowReaders(n: number, path: string): { statuses: number[]; firsts: string[] } {
  const statuses: number[] = [];
  const firsts: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = connect(port, "127.0.0.1");
    sockets.add(s);
    s.on("error", () => {});
    s.once("data", (first: Buffer) => {
      s.pause();
      const text = first.subarray(0, 2048).toString("latin1");
      statuses.push(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0));
      firsts.push(text);
    });
    s.write(`GET ${path} HTTP/1.1\r\nhost: t\r\nx-user-id: attacker\r\n\r\n`);
  }
  return { statuses, firsts };
}

const count = (xs: number[], v: number): number => xs.filter((x) => x === v).length;

test("h2c: 3 connections x 100 zero-window streams for 64 MiB answers hold 128 member connections; another address is served", {
  timeout: 180_000,
}, async () => {
  const from = startAttack();
  const path = `/bytes/${BIG}`;
  const rss0 = rssKiB();
  const refused0 = await refusedCount();
  const conns = Array.from({ length: H2_CONNECTIONS }, () => zeroWindowClient(path));
  await eventually("the attacker's share taken", () =>
    since(from, path).length >= ATTACKER_HOLDS ? true : undefined,
  );

  const other = await fetchFrom("127.0.0.2", "/bytes/1000");
  assert.equal(other.status, 200, `the bystander on another address: ${other.status} after ${other.ms} ms`);
  assert.equal(other.bytes, 1000);

  // Every stream has its head: HEADERS need no window, a refused stream's 503 included.
  const heads = () => conns.reduce((n, c) => n + c.headers, 0);
  await eventually("every attacker stream answered or refused", () =>
    heads() === H2_CONNECTIONS * STREAMS ? true : undefined,
  );
  const held = since(from, path);
  assert.equal(
    held.length,
    ATTACKER_HOLDS,
    "the attacker's address holds half the member's connections, no more",
  );
  assert.equal(held.filter((r) => r.finished || r.abortedAt >= 0).length, 0, "the held requests are held");
  const mine = await fetchFrom("127.0.0.1", "/bytes/1000");
  assert.equal(mine.status, 503, "one more request from the attacker's address is refused");
  assert.equal((JSON.parse(mine.body) as { error?: string }).error, "client_share_exceeded", mine.body);
  const rss = rssKiB() - rss0;
  console.log(
    `h2 zero window: ${H2_CONNECTIONS * STREAMS} streams x ${BIG / 1048576} MiB, member connections held ${held.length}` +
      ` of 256, refused ${H2_CONNECTIONS * STREAMS - held.length}, RSS +${Math.round(rss / 1024)} MB;` +
      ` bystander 200 in ${other.ms} ms`,
  );
  // Every refused stream and the one more request, counted where an operator looks. A refused
  // stream's record ends with its answer, whose body cannot go at window 0: once the attacker left.
  for (const sock of sockets) sock.destroy();
  await eventually("each refusal counted", async () =>
    (await refusedCount()) - refused0 === H2_CONNECTIONS * STREAMS - ATTACKER_HOLDS + 1 ? true : undefined,
  );
});

/** 300 slow readers of 64 MiB answers from 127.0.0.1, then a bystander on 127.0.0.2; `engine` for the log line. */
async function slowReaderAttack(engine: string): Promise<void> {
  const from = startAttack();
  const path = `/bytes/${BIG}`;
  const rss0 = rssKiB();
  const refused0 = await refusedCount();
  const got = slowReaders(H1_READERS, path);
  await eventually("the attacker's share taken", () =>
    since(from, path).length >= ATTACKER_HOLDS ? true : undefined,
  );

  const other = await fetchFrom("127.0.0.2", "/bytes/1000");
  assert.equal(other.status, 200, `the bystander on another address: ${other.status} after ${other.ms} ms`);
  assert.equal(other.bytes, 1000);

  await eventually("every slow reader's first bytes", () =>
    got.statuses.length === H1_READERS ? true : undefined,
  );
  const held = since(from, path);
  assert.equal(held.length, ATTACKER_HOLDS);
  assert.equal(count(got.statuses, 200), ATTACKER_HOLDS, `statuses ${JSON.stringify(got.statuses)}`);
  assert.equal(count(got.statuses, 503), H1_READERS - ATTACKER_HOLDS);
  const refused = got.firsts.find((t) => t.startsWith("HTTP/1.1 503")) ?? "";
  assert.match(refused, /client_share_exceeded/);
  assert.equal((await refusedCount()) - refused0, H1_READERS - ATTACKER_HOLDS, "each refusal counted");
  const rss = rssKiB() - rss0;
  console.log(
    `h1 slow readers (${engine}): ${H1_READERS} x ${BIG / 1048576} MiB, member connections held ${held.length} of 256,` +
      ` refused ${count(got.statuses, 503)}, RSS +${Math.round(rss / 1024)} MB; bystander 200 in ${other.ms} ms`,
  );
}

test(
  "HTTP/1.1: 300 slow readers of 64 MiB answers hold 128 member connections, the rest get 503; another address is served",
  {
    timeout: 180_000,
  },
  () => slowReaderAttack("undici"),
);

/** Never-reading clients of 4 KiB answers, more than the share in all, in waves below it. */
async function smallAnswersHoldNothing(): Promise<void> {
  const from = startAttack();
  const path = `/bytes/${SMALL}`;
  // In waves of half the share, each wave's clients still connected and never reading: were a
  // small answer to hold its member connection, the fifth wave would be refused (past 128 in use,
  // more than 64 of them this address's). (All 300 at once would be: the share counts requests
  // in flight, and 300 at once are more than 128.)
  const statuses: number[] = [];
  for (let sent = 0; sent < H1_READERS; sent += WAVE) {
    const got = slowReaders(Math.min(WAVE, H1_READERS - sent), path);
    const n = Math.min(WAVE, H1_READERS - sent);
    await eventually("a wave's first bytes", () => (got.statuses.length === n ? true : undefined));
    statuses.push(...got.statuses);
  }
  assert.equal(count(statuses, 200), H1_READERS, `statuses ${JSON.stringify(statuses)}`);
  // The same over h2: 4 zero-window connections of WAVE streams, the next once the last one's heads came.
  const conns: ServerFrames[] = [];
  const heads = () => conns.reduce((n, c) => n + c.headers, 0);
  for (let i = 0; i < SMALL_H2_CONNECTIONS; i++) {
    conns.push(zeroWindowClient(path, WAVE));
    await eventually("an h2 connection's heads", () => (heads() === (i + 1) * WAVE ? true : undefined));
  }
  const seen = since(from, path);
  assert.equal(seen.length, H1_READERS + SMALL_H2_CONNECTIONS * WAVE, "every request went to the member");
  assert.equal(seen.filter((r) => r.finished).length, seen.length, "each answer was read whole");
  assert.equal(
    conns.reduce((n, c) => n + c.dataBytes, 0),
    0,
    "no DATA went at window 0: the answers wait in shardgate",
  );
}

test(
  "4 KiB answers to clients that never read hold no member connection: 300 h1 readers and 128 h2 zero-window streams, more than the share, all reach the member",
  {
    timeout: 180_000,
  },
  () => smallAnswersHoldNothing(),
);

test("the same with the http-proxy engine (SHARDGATE_ENGINE=http-proxy; routes with edge features, TLS members): small answers hold nothing, slow readers 128", {
  timeout: 180_000,
}, async () => {
  const undiciPort = port;
  const undiciSg = sg;
  sg = await startShardgate(configYaml(), { env: { ...process.env, SHARDGATE_ENGINE: "http-proxy" } });
  port = Number(new URL(sg.httpUrl).port);
  try {
    await smallAnswersHoldNothing();
    await slowReaderAttack("http-proxy");
  } finally {
    port = undiciPort;
    sg = undiciSg;
  }
});
