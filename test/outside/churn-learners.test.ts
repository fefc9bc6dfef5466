// Churn, tried from outside: learners that join the fleet and leave it (added, then removed
// with `peers remove`, as an HPA scale-in is followed up) must leave nothing on the leader.
// A real shardgate (a one-voter cluster, so the leader) takes learner after learner, each at a
// fresh address where a real TCP listener stands in for the learner's Raft port and counts the
// leader's dials; each is removed again. After the churn the leader's /admin/cluster/peers and
// /metrics name none of them, and its heap (a snapshot over the inspector) holds no transport
// link (PeerLink) for any: before, every removed member's address stayed in the address book
// and its link went on dialling the gone address with backoff for the life of the process,
// one reconnect timer and one entry in every later snapshot per learner that ever left.

import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, test } from "node:test";
import { heapObjectCounts, INSPECT_ENV, inspectorUrl } from "../support/inspector-heap.js";
import { seedNote, testSeed } from "../support/prng.js";
import { labelValues } from "../support/series-labels.js";
import { poolConfig, type RunningShardgate, startShardgate, stopAll } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually, scaled } from "../support/wait.js";

const seed = testSeed(20_261_208);
const note = seedNote(seed);
const TOKEN = "churn-learners-token";
const LEARNERS = 12;
const servers: Server[] = [];
const sockets = new Set<Socket>();
let ups: EchoUpstream[] = [];

after(async () => {
  await stopAll();
  for (const s of sockets) s.destroy();
  for (const s of servers) await new Promise((r) => s.close(r));
  await closeAll(ups);
});

/** A stand-in for a learner's Raft listener: accepts, counts and holds the leader's dials. */
async function learnerPort(): Promise<{ port: number; dials: () => number }> {
  let dials = 0;
  const server = createServer((s) => {
    dials++;
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => sockets.delete(s));
    s.resume();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { port, dials: () => dials };
}

async function admin(
  sg: RunningShardgate,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${sg.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(scaled(30_000)),
  });
  return { status: res.status, text: await res.text() };
}

test("learners that joined and were removed leave no link, address or series on the leader", async () => {
  ups = await startUpstreams(1, "cl");
  const sg = await startShardgate(
    poolConfig({ members: ups.map((u) => ({ id: u.id, port: u.port })), token: TOKEN, accessLog: false }),
    { env: INSPECT_ENV },
  );
  const url = await inspectorUrl(() => sg.proc.stderr);
  const output = () => `${sg.proc.output()}\n${note}`;
  const gone = new Set<string>();
  for (let i = 0; i < LEARNERS; i++) {
    const id = `learner-${i}`;
    const l = await learnerPort();
    const added = await admin(sg, "POST", "/admin/cluster/add-learner", {
      id,
      address: `127.0.0.1:${l.port}`,
    });
    assert.equal(added.status, 200, `add-learner ${id}: ${added.text}\n${output()}`);
    // The leader dials a member it replicates to: the stand-in sees it (so the link existed).
    await eventually(`the leader dials ${id}`, () => (l.dials() > 0 ? true : undefined), 30_000, 20).catch(
      () => assert.fail(`the leader never dialled ${id}\n${output()}`),
    );
    const removed = await admin(sg, "POST", "/admin/cluster/remove", { id });
    assert.equal(removed.status, 200, `remove ${id}: ${removed.text}\n${output()}`);
    gone.add(id);
  }
  const peers = JSON.parse((await admin(sg, "GET", "/admin/cluster/peers")).text) as {
    peers: Array<{ id: string; self: boolean }>;
  };
  assert.deepEqual(
    peers.peers.filter((p) => !p.self).map((p) => p.id),
    [],
    `peers after the churn\n${output()}`,
  );
  const metrics = await admin(sg, "GET", "/metrics");
  const named = [...labelValues(metrics.text, "peer")].filter((p) => gone.has(p));
  assert.deepEqual(named, [], `peer series of removed learners\n${note}`);
  let links = -1;
  await eventually(
    "no transport link to a removed learner",
    async () => {
      links = (await heapObjectCounts(url, ["PeerLink"])).PeerLink;
      return links === 0 ? true : undefined;
    },
    30_000,
    1_000,
  ).catch(() =>
    assert.fail(`${links} PeerLink objects on the leader after ${LEARNERS} learners came and went\n${note}`),
  );
  process.stdout.write(`# ${links} PeerLink objects after ${LEARNERS} learners came and went\n`);
});
