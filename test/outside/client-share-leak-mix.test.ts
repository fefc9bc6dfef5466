// Tried from the outside: every path that takes a client's share slot of a member address
// (listen.maxUpstreamPerClient, proxy/forward/client-share.ts) gives it back exactly once. A
// leaked slot never comes back, so after enough of them a client address is refused for good.
// A long seeded mix of the paths that end an upstream request early or late (answers read
// whole, clients gone before the head and mid-answer, members resetting before the head and
// mid-answer, 502 retried to the other member, response timeouts retried, bodies sent) runs
// against a real shardgate process (both engines) and two real members; once the members saw
// every request end, the share is read from the outside: with the default share (64) and the
// unshared half (128 of 256), one client address whose requests the member holds gets exactly
// 128 - (slots still held at that member address) of them in before its first 503
// client_share_exceeded. So 128 on each member address means nothing is held.

import assert from "node:assert/strict";
import { request } from "node:http";
import { after, test } from "node:test";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { type ShareMember, startShareMember, stopShareMember } from "../support/share-member.js";
import { eventually } from "../support/wait.js";

const SEED = testSeed(160_316);
/** What one address may hold while the rest of the pool is idle (client-share.ts unsharedConnections(256)). */
const UNSHARED = 128;
const PROBE = UNSHARED + 4;
/**
 * Requests in the mix: ~33 of each of its nine kinds (600 at first, ~65 each). A path that
 * leaks leaks at each of its requests, and one held slot already shows in the probe.
 */
const OPS = 300;
const CONCURRENCY = 24;

function configYaml(a: ShareMember, b: ShareMember): string {
  return `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
admin:
  token: ""
log:
  level: info
  accessLog: false
pools:
  users:
    algorithm: ring
    members:
      - { id: a, address: "127.0.0.1:${a.port}" }
      - { id: b, address: "127.0.0.1:${b.port}" }
    timeouts: { connect: 1s, response: 300ms }
    retry: { attempts: 2, on: [connect-failure, reset, timeout, gateway-error], budgetRatio: 1, minRetriesPerSecond: 100000 }
    breaker: { enabled: false }
  # The probe's pool: the same member addresses (the share is counted per address, whichever
  # pool sends there), and no response timeout a loaded machine could hit while the member holds
  # 128 requests (the users pool's 300 ms cut held requests before all of them had arrived).
  holders:
    algorithm: ring
    members:
      - { id: a, address: "127.0.0.1:${a.port}" }
      - { id: b, address: "127.0.0.1:${b.port}" }
    timeouts: { connect: 5s, response: 120s }
    retry: { attempts: 1 }
    breaker: { enabled: false }
routes:
  - match: { pathPrefix: /hold/ }
    pool: holders
    key: [header:x-user-id, ip]
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id, ip]
`;
}

type Op =
  | "ok"
  | "big-read"
  | "big-abort"
  | "abort-before-head"
  | "reset"
  | "midreset"
  | "bad"
  | "late"
  | "post";
const OPS_LIST: Op[] = [
  "ok",
  "big-read",
  "big-abort",
  "abort-before-head",
  "reset",
  "midreset",
  "bad",
  "late",
  "post",
];

/** One client request of kind `op`; resolves when the client is done with it (any outcome). */
function runOp(port: number, op: Op, key: string, rand: () => number): Promise<string> {
  const path =
    op === "big-read" || op === "big-abort"
      ? "/big"
      : op === "abort-before-head"
        ? "/slowish"
        : op === "post"
          ? "/ok"
          : `/${op}`;
  return new Promise((resolve) => {
    let settled = false;
    const done = (what: string) => {
      if (settled) return;
      settled = true;
      resolve(what);
    };
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: op === "post" ? "POST" : "GET",
        agent: false,
        headers: { "x-user-id": key, connection: "close" },
      },
      (res) => {
        if (op === "big-abort") {
          let got = 0;
          const cut = 1 + Math.floor(rand() * 512 * 1024);
          res.on("data", (d: Buffer) => {
            got += d.length;
            if (got >= cut) {
              req.destroy();
              done("cut");
            }
          });
        } else res.resume();
        res.on("end", () => done(String(res.statusCode)));
        res.on("close", () => done(String(res.statusCode)));
        res.on("error", () => done("error"));
      },
    );
    req.on("error", () => done("error"));
    if (op === "abort-before-head") setTimeout(() => req.destroy(), 10 + Math.floor(rand() * 60));
    if (op === "post") req.end(Buffer.alloc(1 + Math.floor(rand() * 200_000), 0x63));
    else req.end();
  });
}

/** A key whose probe requests (the holders pool) go to the member on `port` (the ring decides; found by asking). */
async function keyFor(sgPort: number, port: number): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const key = `probe-${i}`;
    const got = await new Promise<string>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: sgPort, path: "/hold/ok", agent: false, headers: { "x-user-id": key } },
        (res) => {
          res.resume();
          res.on("end", () => resolve(String(res.headers["x-port"] ?? "")));
        },
      );
      req.on("error", reject);
      req.end();
    });
    if (got === String(port)) return key;
  }
  throw new Error(`no key found for the member on port ${port}`);
}

/**
 * How many held requests one client address gets in on `m` before its first 503
 * client_share_exceeded (PROBE sent at once); every held one is then answered.
 */
async function admittedOn(sgPort: number, m: ShareMember, key: string): Promise<number> {
  let refused = 0;
  let other = "";
  const answered: Promise<void>[] = [];
  for (let i = 0; i < PROBE; i++) {
    answered.push(
      new Promise<void>((resolve) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: sgPort,
            path: "/hold/wait",
            agent: false,
            headers: { "x-user-id": key },
          },
          (res) => {
            res.resume();
            if (res.statusCode === 503) refused++;
            else if (res.statusCode !== 200) other += ` ${res.statusCode}`;
            res.on("end", () => resolve());
          },
        );
        req.on("error", () => resolve());
        req.end();
      }),
    );
  }
  const held = await eventually(`the member on ${m.port} holds what was not refused`, () =>
    m.held.length + refused === PROBE ? m.held.length : undefined,
  );
  for (const res of m.held.splice(0)) res.end("held");
  await Promise.all(answered);
  assert.equal(other, "", `unexpected statuses in the probe (${seedNote(SEED)})`);
  return held;
}

let a: ShareMember;
let b: ShareMember;
let sg: RunningShardgate;

after(async () => {
  await stopAll();
  for (const m of [a, b]) {
    if (m !== undefined) await stopShareMember(m);
  }
});

async function leakMix(engine: "undici" | "http-proxy"): Promise<void> {
  a ??= await startShareMember();
  b ??= await startShareMember();
  sg = await startShardgate(configYaml(a, b), { env: { SHARDGATE_ENGINE: engine } });
  const sgPort = Number(new URL(sg.httpUrl).port);
  const keyA = await keyFor(sgPort, a.port);
  const keyB = await keyFor(sgPort, b.port);
  // Nothing held yet: the probe reads the unshared half on each address.
  assert.equal(await admittedOn(sgPort, a, keyA), UNSHARED, `before the mix, on a (${seedNote(SEED)})`);

  const rand = seededRandom(SEED + (engine === "undici" ? 0 : 1));
  const outcomes = new Map<string, number>();
  let next = 0;
  const deadline = Date.now() + 240_000;
  const worker = async () => {
    while (next < OPS && Date.now() < deadline) {
      next++;
      const op = OPS_LIST[Math.floor(rand() * OPS_LIST.length)];
      const key = `u${Math.floor(rand() * 50)}`;
      const got = await runOp(sgPort, op, key, rand);
      const label = `${op}:${got}`;
      outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  assert.equal(next, OPS, `the mix ran ${next} of ${OPS} requests before its deadline (${seedNote(SEED)})`);
  console.log(`# ${engine}: ${[...outcomes].map(([k, v]) => `${k}=${v}`).join(" ")}`);
  await eventually(
    "both members saw every request end",
    () => (a.open + b.open === 0 ? true : undefined),
    30_000,
  );

  const onA = await eventually(
    "a's slots back",
    async () => {
      const n = await admittedOn(sgPort, a, keyA);
      return n === UNSHARED ? n : undefined;
    },
    20_000,
  ).catch(async () => admittedOn(sgPort, a, keyA));
  const onB = await eventually(
    "b's slots back",
    async () => {
      const n = await admittedOn(sgPort, b, keyB);
      return n === UNSHARED ? n : undefined;
    },
    20_000,
  ).catch(async () => admittedOn(sgPort, b, keyB));
  assert.deepEqual(
    { onA, onB },
    { onA: UNSHARED, onB: UNSHARED },
    `${engine}: held requests admitted before the first 503 after ${OPS} mixed requests; fewer than ${UNSHARED} = slots leaked (${seedNote(SEED)})`,
  );
  await sg.stop();
}

test(
  "undici engine: a seeded mix of early and late request ends leaves no client share slot held",
  { timeout: 300_000 },
  () => leakMix("undici"),
);

test("http-proxy engine: the same mix leaves no client share slot held", { timeout: 300_000 }, () =>
  leakMix("http-proxy"),
);
