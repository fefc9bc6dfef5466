// A fleet instance whose peers are not up routes provisionally on its own file (ring version 0)
// until routing is committed, whatever Raft has committed so far. A founding voter
// (`bootstrap: new`) installs the bootstrap snapshot at start: a committed state that carries
// configuration only, no routing. It used to replace the file's routing with that state's
// empty one, so every request answered 404 no_route. Real `shardgate start` processes, the
// peers not started: two voters, three voters (one up, two workers), a learner, and the
// founding voter restarted on its data directory (its log holds only the bootstrap entry);
// then the peer started, and the routing committed with it replaces the file's. A reload while
// provisional routes on the reloaded file (it used to keep the file read at start).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { freePorts } from "../support/ports.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import {
  fetchJson,
  metricValue,
  type RunningShardgate,
  startShardgate,
  waitReady,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { eventually } from "../support/wait.js";

const SEED = testSeed(2112);
const random = seededRandom(SEED);
const SECRET = "bootstrap-provisional-secret-0123456789";
/** Requests per check: enough keys to reach both members, bounded. */
const REQUESTS = 20;

const dir = mkdtempSync(join(tmpdir(), "sg-bootstrap-provisional-"));
let upstreams: EchoUpstream[] = [];
const running = new Set<RunningShardgate>();

before(async () => {
  upstreams = await startUpstreams(2, "m");
});
after(async () => {
  await Promise.all([...running].map((sg) => sg.stop()));
  await closeAll(upstreams);
  rmSync(dir, { recursive: true, force: true });
});

interface Instance {
  /** The instance started; the other ids are peers that never start. */
  readonly id: string;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  readonly workers: number;
}

/** The config of `self` (default the instance): its peers' Raft ports, the routing of `members` (both upstreams). */
function yaml(
  inst: Instance,
  ports: Readonly<Record<string, number>>,
  self = inst.id,
  members: readonly EchoUpstream[] = upstreams,
): string {
  const ids = [...inst.voters, ...inst.learners];
  return `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
workers: ${inst.workers}
headers:
  memberHeader: x-shardgate-member
  ringVersionHeader: x-shardgate-ring-version
cluster:
  id: ${self}
  listen: 127.0.0.1:${ports[self]}
  dataDir: ${JSON.stringify(join(dir, `${self}-${ports[self]}`))}
  secret: "${SECRET}"
  bootstrap: new
  peers:
${ids.map((id) => `    - { id: ${id}, address: "127.0.0.1:${ports[id]}" }`).join("\n")}
  voters: [${inst.voters.join(", ")}]
  electionTimeout: 300ms
  heartbeat: 50ms
pools:
  web:
    algorithm: ring
    members:
${members.map((u) => `      - { id: ${u.id}, address: "127.0.0.1:${u.port}" }`).join("\n")}
routes:
  - match: { pathPrefix: / }
    pool: web
    key: [header:x-user-id]
    onMissingKey: reject
`;
}

async function start(text: string): Promise<RunningShardgate> {
  // Not ready (no committed state): wait for the listener only.
  const sg = await startShardgate(text, { waitReady: false });
  running.add(sg);
  return sg;
}

async function stop(sg: RunningShardgate): Promise<void> {
  await sg.stop();
  running.delete(sg);
}

/** Sends REQUESTS keyed requests; every one must be served by a member of the file (`members`) at ring version 0. */
async function assertRoutesOnFile(
  sg: RunningShardgate,
  what: string,
  members: readonly EchoUpstream[] = upstreams,
): Promise<void> {
  const served = new Set<string>();
  for (let i = 0; i < REQUESTS; i++) {
    const key = `u${Math.floor(random() * 1e9)}`;
    const res = await fetch(`${sg.httpUrl}/p`, {
      headers: { "x-user-id": key },
      signal: AbortSignal.timeout(10_000),
    });
    const body = await res.text();
    assert.equal(res.status, 200, `${what}: key ${key} answered ${res.status} ${body}\n${seedNote(SEED)}`);
    assert.equal(res.headers.get("x-shardgate-ring-version"), "0", `${what}: provisional ring version`);
    served.add(String(res.headers.get("x-shardgate-member")));
  }
  assert.deepEqual([...served].sort(), members.map((u) => u.id).sort(), `${what}: ${seedNote(SEED)}`);
  const ready = await fetch(`${sg.adminUrl}/readyz`, { signal: AbortSignal.timeout(10_000) });
  const text = await ready.text();
  assert.equal(ready.status, 503, `${what}: /readyz ${text}`);
  assert.match(text, /no_committed_state/, what);
  // What the operator reads says ring version 0 too: the admin state and the ring version gauge.
  const state = await fetchJson(`${sg.adminUrl}/admin/state`);
  assert.equal(state.status, 200, `${what}: /admin/state ${state.text}`);
  assert.equal((state.body as { ringVersion: number }).ringVersion, 0, `${what}: /admin/state ring version`);
  const metrics = await (
    await fetch(`${sg.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })
  ).text();
  assert.equal(metricValue(metrics, "shardgate_ring_version", {}), 0, `${what}: shardgate_ring_version`);
}

/** The pids of the instance's running workers (/admin/state). */
async function workerPids(sg: RunningShardgate): Promise<number[]> {
  const state = await fetchJson(`${sg.adminUrl}/admin/state`);
  const views = (state.body as { workers?: Array<{ pid: number | null }> }).workers ?? [];
  return views.flatMap((w) => (w.pid === null ? [] : [w.pid]));
}

/** Picks the Raft ports of every peer (nobody listens on the others'); the instance's own config. */
async function instance(inst: Instance): Promise<{ text: string; ports: Record<string, number> }> {
  const ids = [...inst.voters, ...inst.learners];
  const list = await freePorts(ids.length);
  const ports = Object.fromEntries(ids.map((id, i) => [id, list[i]]));
  return { text: yaml(inst, ports), ports };
}

const CASES: ReadonlyArray<{ name: string; inst: Instance }> = [
  { name: "two voters, one up", inst: { id: "a", voters: ["a", "b"], learners: [], workers: 1 } },
  {
    name: "three voters, one up, two workers",
    inst: { id: "a", voters: ["a", "b", "c"], learners: [], workers: 2 },
  },
  { name: "a learner, no voter up", inst: { id: "l", voters: ["a", "b"], learners: ["l"], workers: 1 } },
];

for (const c of CASES) {
  test(`${c.name}: routes on its file until routing is committed`, async () => {
    const { text } = await instance(c.inst);
    const sg = await start(text);
    try {
      await assertRoutesOnFile(sg, c.name);
    } finally {
      await stop(sg);
    }
  });
}

test("a founding voter restarted on a log holding only the bootstrap entry still routes on its file", async () => {
  const inst: Instance = { id: "a", voters: ["a", "b"], learners: [], workers: 1 };
  const { text } = await instance(inst);
  const first = await start(text);
  await assertRoutesOnFile(first, "first start");
  await stop(first);
  // The same data directory: the bootstrap snapshot is restored from disk this time.
  const again = await start(text);
  try {
    await assertRoutesOnFile(again, "restart");
  } finally {
    await stop(again);
  }
});

test("once its peer comes up, the committed routing replaces the file's", async () => {
  const inst: Instance = { id: "a", voters: ["a", "b"], learners: [], workers: 1 };
  const { text, ports } = await instance(inst);
  const a = await start(text);
  let b: RunningShardgate | undefined;
  try {
    await assertRoutesOnFile(a, "before quorum");
    b = await start(yaml(inst, ports, "b"));
    await waitReady(a.adminUrl, a.proc);
    const res = await fetch(`${a.httpUrl}/p`, {
      headers: { "x-user-id": "k" },
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 200, await res.text());
    assert.ok(
      Number(res.headers.get("x-shardgate-ring-version")) > 0,
      "routed at the committed ring version",
    );
  } finally {
    if (b !== undefined) await stop(b);
    await stop(a);
  }
});

for (const workers of [1, 2]) {
  test(`a reload while provisional routes on the reloaded file (${workers} worker${workers > 1 ? "s" : ""})`, async () => {
    const inst: Instance = { id: "a", voters: ["a", "b"], learners: [], workers };
    const { text, ports } = await instance(inst);
    const sg = await start(text);
    try {
      await assertRoutesOnFile(sg, "before the reload");
      // The reloaded file drops the second member: only the first may serve from now on.
      const reloaded = upstreams.slice(0, 1);
      sg.config.write(yaml(inst, ports, inst.id, reloaded));
      sg.proc.signal("SIGHUP");
      await eventually("provisional routing on the reloaded file", async () => {
        await assertRoutesOnFile(sg, "after the reload", reloaded);
        return true;
      });
      // Settled: every request (every worker) routes on the reloaded file, still provisional.
      await assertRoutesOnFile(sg, "after the reload", reloaded);
      if (workers > 1) {
        // Workers restarted now start on the reloaded file too, not on the one read at start.
        // One at a time, each listening again before the next goes: the listener (port 0) stays
        // bound only while a worker listens.
        const restarted = () => sg.proc.lines.filter((l) => l.msg === "worker restarted").length;
        const pids = await workerPids(sg);
        for (let i = 0; i < pids.length; i++) {
          process.kill(pids[i], "SIGKILL");
          await eventually(`worker ${pids[i]} replaced and listening`, () =>
            restarted() > i ? true : undefined,
          );
        }
        await eventually("the restarted workers route on the reloaded file", async () => {
          await assertRoutesOnFile(sg, "restarted workers", reloaded);
          return true;
        });
      }
    } finally {
      await stop(sg);
    }
  });
}
