// The key rules switch in a real shardgate process (`--workers 2`: the primary's ClusterNode,
// join-cluster.ts and the workers' "keyRules" message): its fleet peer n2 is an in-process
// ClusterNode advertising level 3 (the `level` test seam). While n2 is at level 3 the process
// routes /u/<k>%21b to the member of "<k>%21b"; once n2 is restarted at CURRENT_LEVEL and the
// level commits, to the member of "<k>!b", on every connection (both workers).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { configSchema, consulAgentSchema } from "../../config/file/schema.js";
import { SILENT_LOG } from "../../config/log-sink.js";
import { CURRENT_LEVEL, LEVEL_KEY_SPELLING } from "../../config/raft/core/index.js";
import { ClusterNode } from "../../proxy/cluster/cluster-node.js";
import { OutcomeRecorders } from "../../proxy/cluster/outcome-recorders.js";
import { voterSettings } from "../support/cluster/one-voter.js";
import { freePorts } from "../support/ports.js";
import { seededRandom, seedNote, testSeed } from "../support/prng.js";
import { fetchJson, type RunningShardgate, startShardgate } from "../support/shardgate-process.js";
import { eventually } from "../support/wait.js";

const SEED = testSeed(4116);
const random = seededRandom(SEED);
const SECRET = "key-rules-process-test-secret-0123456789";
const dir = mkdtempSync(join(tmpdir(), "sg-key-rules-proc-"));
const servers: Server[] = [];
let peer: ClusterNode | undefined;
let sg: RunningShardgate | undefined;
after(async () => {
  await sg?.proc.stop();
  await peer?.stop();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

test("a process reads path keys by the previous rules below level 4 and switches when it commits", {
  timeout: 180_000,
}, async () => {
  const ports: number[] = [];
  for (let i = 0; i < 4; i++) {
    const s = createServer((_req, res) => res.end("ok"));
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    servers.push(s);
    const a = s.address();
    assert.ok(a !== null && typeof a === "object");
    ports.push(a.port);
  }
  const routing = `pools:
  users:
    algorithm: ring
    members:
${ports.map((p, i) => `      - { id: u${i}, address: "127.0.0.1:${p}" }`).join("\n")}
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [path:2]
`;
  const [p1, p2] = await freePorts(2);
  const peers = { n1: `127.0.0.1:${p1}`, n2: `127.0.0.1:${p2}` };
  const fileRouting = configSchema.parse({
    pools: {
      users: {
        algorithm: "ring",
        members: ports.map((p, i) => ({ id: `u${i}`, address: `127.0.0.1:${p}` })),
      },
    },
    routes: [{ match: { pathPrefix: "/" }, pool: "users", key: ["path:2"] }],
  });
  const startPeer = (level?: number) => {
    peer = new ClusterNode({
      settings: voterSettings({
        id: "n2",
        peers,
        dataDir: join(dir, "n2"),
        secret: SECRET,
        ephemeral: false,
      }),
      logger: SILENT_LOG,
      fileRouting: () => ({ pools: fileRouting.pools, routes: fileRouting.routes }),
      agent: consulAgentSchema.parse({}),
      outcomes: new OutcomeRecorders(),
      onApplied: () => undefined,
      ...(level === undefined ? {} : { level }),
    });
    return peer.start();
  };
  await startPeer(LEVEL_KEY_SPELLING - 1);
  sg = await startShardgate(
    `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
admin:
  token: ""
log:
  level: info
  accessLog: false
headers:
  memberHeader: x-shardgate-member
cluster:
  id: n1
  listen: ${peers.n1}
  dataDir: ${JSON.stringify(join(dir, "n1"))}
  secret: "${SECRET}"
  peers:
    - { id: n1, address: "${peers.n1}" }
    - { id: n2, address: "${peers.n2}" }
  voters: [n1, n2]
  bootstrap: new
  electionTimeout: 300ms
  heartbeat: 50ms
${routing}`,
    { args: ["--workers", "2"] },
  );
  const s = sg;
  const owner = async (key: string): Promise<string> => {
    const r = await fetchJson(
      `${s.adminUrl}/admin/route?pool=users&source=path:2&key=${encodeURIComponent(key)}`,
    );
    assert.equal(r.status, 200, r.text);
    return (r.body as { owner: string }).owner;
  };
  const level = async (): Promise<number> =>
    ((await fetchJson(`${s.adminUrl}/admin/state`)).body as { raft?: { clusterLevel?: number } }).raft
      ?.clusterLevel ?? 0;
  /** Members that served `n` requests for `url`, each on its own connection (so both workers serve). */
  const served = async (url: string, n: number): Promise<Set<string>> => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const r = await fetch(`${s.httpUrl}${url}`, { headers: { connection: "close" } });
      await r.text();
      assert.equal(r.status, 200);
      seen.add(r.headers.get("x-shardgate-member") ?? "?");
    }
    return seen;
  };

  let k = "";
  for (let i = 0; i < 200 && k === ""; i++) {
    const t = `k${Math.floor(random() * 1e9).toString(36)}`;
    if ((await owner(`${t}%21b`)) !== (await owner(`${t}!b`))) k = t;
  }
  assert.notEqual(k, "", `a key whose spellings part (${seedNote(SEED)})`);
  const url = `/u/${k}%21b`;
  const oldOwner = await owner(`${k}%21b`);
  const newOwner = await owner(`${k}!b`);
  assert.ok((await level()) < LEVEL_KEY_SPELLING);
  assert.deepEqual([...(await served(url, 20))], [oldOwner], `below level 4 (${seedNote(SEED)})`);

  // n2 is upgraded: restarted on its data directory at this build's level.
  await peer?.stop();
  await startPeer();
  await eventually(
    "level 4 committed",
    async () => ((await level()) >= CURRENT_LEVEL ? true : undefined),
    60_000,
  );
  assert.deepEqual([...(await served(url, 20))], [newOwner], `at level ${CURRENT_LEVEL} (${seedNote(SEED)})`);
});
