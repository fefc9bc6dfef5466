// Churn, tried from outside: clients that come from ever-new addresses (each its own loopback
// address in 127.0.0.0/8, each a keep-alive connection that makes a few requests keyed on its
// address and leaves) must leave nothing behind in a real shardgate process: after twice as
// many clients as a first measured phase, the V8 heap after a full GC (read over the
// inspector) has not grown by more than a stated bound, and no client connection is left
// open in the process (net.Socket objects on its heap: the upstream keep-alive ones only).
// A guard: on this code it found nothing left behind (no per-client structure outlives its
// connection: cookie verification and DNS caches are bounded, rate limits live in Redis).

import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { connect, type Socket } from "node:net";
import { after, test } from "node:test";
import { heapAfterGc, heapObjectCounts, INSPECT_ENV, inspectorUrl } from "../support/inspector-heap.js";
import { seedNote, testSeed } from "../support/prng.js";
import { poolConfig, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually, scaled } from "../support/wait.js";

const seed = testSeed(20_261_211);
const note = seedNote(seed);
/**
 * Clients per phase: warm-up, measured, twice as many. Half of the first version's (1,400 in
 * all): a structure kept per client shows in the growth across 400 as it did across 800, the
 * bound below keeping about the same allowance per client (~3 KB; it was 2 MB over 800).
 */
const PHASES = [100, 200, 400] as const;
const HEAP_BOUND_BYTES = 1.25 * 1024 * 1024;
let ups: EchoUpstream[] = [];

after(async () => {
  await stopAll();
  await closeAll(ups);
});

/** Client `n`'s own source address: 127.1.x.y (y in 1..250). */
function clientAddress(n: number): string {
  return `127.1.${Math.floor(n / 250) % 256}.${(n % 250) + 1}`;
}

/** Three requests on one keep-alive connection from `localAddress`, then the connection closes. */
async function client(httpUrl: string, localAddress: string): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress });
  try {
    for (let i = 0; i < 3; i++) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${httpUrl}/c${i}`, { agent, timeout: scaled(15_000) }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error("no answer")));
        req.on("error", reject);
        req.end();
      });
      assert.equal(status, 200, `client ${localAddress}\n${note}`);
    }
  } finally {
    agent.destroy();
  }
}

test("clients from ever-new addresses leave nothing behind", async () => {
  ups = await startUpstreams(3, "cc");
  const yaml = poolConfig({
    members: ups.map((u) => ({ id: u.id, port: u.port })),
    accessLog: false,
  }).replace("key: [header:x-user-id, query:user, ip]", "key: [ip]");
  const sg = await startShardgate(yaml, { env: INSPECT_ENV });
  const url = await inspectorUrl(() => sg.proc.stderr);
  let n = 0;
  const heaps: number[] = [];
  for (const clients of PHASES) {
    // Eight clients at a time, each from an address never used before.
    for (let done = 0; done < clients; done += 8)
      await Promise.all(Array.from({ length: 8 }, () => client(sg.httpUrl, clientAddress(n++))));
    heaps.push(await heapAfterGc(url));
  }
  // The count sees client connections: 30 held open show up as 30 more sockets.
  const held = await Promise.all(
    Array.from(
      { length: 30 },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect({
            host: "127.0.0.1",
            port: Number(new URL(sg.httpUrl).port),
            localAddress: clientAddress(n++),
          });
          s.once("connect", () => resolve(s));
          s.once("error", reject);
        }),
    ),
  );
  const holding = (await heapObjectCounts(url, ["Socket"])).Socket;
  for (const s of held) s.destroy();
  assert.ok(holding >= 30, `30 held client connections counted: ${holding} Socket objects\n${note}`);
  let sockets = -1;
  await eventually(
    "the clients' connections closed in the process",
    async () => {
      sockets = (await heapObjectCounts(url, ["Socket"])).Socket;
      // Upstream keep-alive sockets (one or two per member), the listeners' and admin's own.
      return sockets <= 20 ? true : undefined;
    },
    30_000,
    1_000,
  ).catch(() => assert.fail(`${sockets} Socket objects on the heap after ${n} clients\n${note}`));
  const mb = (b: number) => (b / 1024 / 1024).toFixed(2);
  const growth = heaps[2] - heaps[1];
  process.stdout.write(
    `# heap after GC: ${heaps.map(mb).join(" / ")} MB after ${PHASES.join(" / ")} more clients; last phase grew ${mb(growth)} MB (bound ${mb(HEAP_BOUND_BYTES)}); ${sockets} Socket objects\n`,
  );
  assert.ok(
    growth < HEAP_BOUND_BYTES,
    `heap grew ${mb(growth)} MB over ${PHASES[2]} clients; ${heaps.map(mb)}\n${note}`,
  );
});
