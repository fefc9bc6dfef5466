// Two shardgate fleets on loopback that share a cluster secret and node ids (an operator copied
// the config) are two clusters: each fixes its own cluster id, and when one fleet's config names
// the other's Raft address, every handshake between them is refused before any Raft message is
// read, logged on both sides with both ids and counted in shardgate_raft_refused_total and
// shardgate_raft_transport_rejected_frames_total (reason cluster_mismatch); neither loses its
// leader or moves its term. A data directory whose identity.json names another cluster than its
// own log refuses to start, naming both. Real processes, real transport.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { freePorts } from "../support/ports.js";
import { type RunningShardgate, ShardgateChild, startShardgate } from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";
import { CONDITION_DEADLINE_MS, eventually, START_DEADLINE_MS } from "../support/wait.js";

const SECRET = "two-fleets-one-secret-0123456789";
const dir = mkdtempSync(join(tmpdir(), "sg-cluster-id-proc-"));
const running: RunningShardgate[] = [];
let upstreams: EchoUpstream[] = [];
let refusedStart: ShardgateChild | undefined;

after(async () => {
  await refusedStart?.stop();
  for (const p of running) await p.stop();
  await closeAll(upstreams);
  rmSync(dir, { recursive: true, force: true });
});

function config(id: string, dataDir: string, peers: Record<string, string>, voters: string[]): string {
  return `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
cluster:
  id: ${id}
  dataDir: ${JSON.stringify(dataDir)}
  secret: "${SECRET}"
  peers:
${Object.entries(peers)
  .map(([p, a]) => `    - { id: ${p}, address: "${a}" }`)
  .join("\n")}
  voters: [${voters.join(", ")}]
  heartbeat: 50ms
  electionTimeout: 500ms
pools:
  p:
    members:
      - { id: m1, address: "127.0.0.1:${upstreams[0].port}" }
routes:
  - match: { pathPrefix: / }
    pool: p
    key: [header:x-k, ip]
`;
}

async function start(yaml: string): Promise<RunningShardgate> {
  const p = await startShardgate(yaml);
  running.push(p);
  return p;
}

/** This data directory's cluster id, once the fleet fixed it. */
function clusterIdOf(dataDir: string): string | undefined {
  try {
    const o = JSON.parse(readFileSync(join(dataDir, "identity.json"), "utf8")) as { cluster?: string };
    return o.cluster;
  } catch {
    return undefined;
  }
}

async function scrape(p: RunningShardgate): Promise<string> {
  return (await fetch(`${p.adminUrl}/metrics`)).text();
}

function sample(text: string, name: string, reason: string): number {
  const m = new RegExp(`^${name}\\{reason="${reason}"\\} (\\S+)$`, "m").exec(text);
  return m === null ? 0 : Number(m[1]);
}

function term(text: string): number {
  return Number(/^shardgate_raft_term (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
}

test("two fleets sharing a secret refuse each other: logged and counted on both sides", async () => {
  upstreams = await startUpstreams(1);
  const [pa, pb] = await freePorts(2);
  const addrA = `127.0.0.1:${pa}`;
  const addrB = `127.0.0.1:${pb}`;
  const dataA = join(dir, "fleet-a");
  const dataB = join(dir, "fleet-b");
  // Fleet A: one voter "b". Fleet B: one voter "a". Each founds its own cluster.
  const a = await start(config("b", dataA, { b: addrA }, ["b"]));
  let b = await start(config("a", dataB, { a: addrB }, ["a"]));
  const ids = await eventually(
    "both fleets fixed a cluster id",
    async () => {
      const x = clusterIdOf(dataA);
      const y = clusterIdOf(dataB);
      return x !== undefined && y !== undefined ? { a: x, b: y } : undefined;
    },
    CONDITION_DEADLINE_MS,
    50,
  );
  assert.notEqual(ids.a, ids.b, "two fleets, two cluster ids");
  const before = await scrape(a);
  assert.match(before, /^shardgate_raft_is_leader 1$/m);

  // Fleet B's operator copies A's peer list: B now names A's Raft address as its learner "b".
  await b.stop();
  running.splice(running.indexOf(b), 1);
  b = await start(config("a", dataB, { a: addrB, b: addrA }, ["a"]));

  const counted = await eventually(
    "fleet A refuses fleet B's handshakes, and B hears why",
    async () => {
      const [ta, tb] = await Promise.all([scrape(a), scrape(b)]);
      const ok =
        sample(ta, "shardgate_raft_refused_total", "cluster_mismatch") > 0 &&
        sample(ta, "shardgate_raft_transport_rejected_frames_total", "cluster_mismatch") > 0 &&
        sample(tb, "shardgate_raft_refused_total", "cluster_mismatch") > 0;
      return ok ? { ta, tb } : undefined;
    },
    CONDITION_DEADLINE_MS,
    100,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\nA:\n${a.proc.output()}\nB:\n${b.proc.output()}`);
  });
  const logA = a.proc.output();
  const logB = b.proc.output();
  const lineA = logA.split("\n").find((l) => l.includes("code cluster_mismatch"));
  assert.ok(lineA, `A logs the refusal:\n${logA}`);
  assert.match(lineA, /from a: cluster ID mismatch/);
  assert.ok(lineA.includes(ids.a) && lineA.includes(ids.b), `A's line names both clusters: ${lineA}`);
  assert.match(logB, /code cluster_mismatch\) from b: refused by the server: cluster ID mismatch/);
  assert.equal(term(counted.ta), term(before), "B's traffic moved A's term");
  assert.match(counted.ta, /^shardgate_raft_is_leader 1$/m, "A still leads its own cluster");
  assert.match(counted.tb, /^shardgate_raft_is_leader 1$/m, "B still leads its own cluster");
  assert.equal(clusterIdOf(dataA), ids.a);
  assert.equal(clusterIdOf(dataB), ids.b);
});

test("a data directory whose identity.json names another cluster than its own log refuses to start", async () => {
  upstreams = upstreams.length > 0 ? upstreams : await startUpstreams(1);
  const [port] = await freePorts(1);
  const addr = `127.0.0.1:${port}`;
  const data = join(dir, "confused");
  const yaml = config("a", data, { a: addr }, ["a"]);
  const first = await start(yaml);
  const id = await eventually(
    "the fleet fixed its id",
    async () => clusterIdOf(data),
    CONDITION_DEADLINE_MS,
    50,
  );
  await first.stop();
  running.splice(running.indexOf(first), 1);
  // Another cluster's identity.json copied over this directory's.
  const file = join(data, "identity.json");
  const other = id === "0123456789abcdef" ? "fedcba9876543210" : "0123456789abcdef";
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")), cluster: other }));
  const cfg = join(dir, "confused.yaml");
  writeFileSync(cfg, yaml);
  const child = new ShardgateChild(["start", "--config", cfg]);
  refusedStart = child;
  const r = await child.waitExit(START_DEADLINE_MS);
  assert.equal(r.code, 1, child.output());
  assert.match(child.stderr, /cluster ID mismatch/, child.output());
  assert.ok(child.stderr.includes(id) && child.stderr.includes(other), `both ids named:\n${child.stderr}`);
  assert.match(child.stderr, /refusing to start/);
});
