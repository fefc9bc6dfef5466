// The key rules switch in a real shardgate process (`--workers 2`: the primary's ClusterNode,
// join-cluster.ts and the workers' "keyRules" message): its fleet peer n2 is an in-process
// ClusterNode advertising level 3 (the `level` test seam). While n2 is at level 3 the process
// routes /u/<k>%21b to the member of "<k>%21b"; once n2 is restarted at CURRENT_LEVEL and the
// level commits, to the member of "<k>!b", on every connection (both workers). The same from
// level 4 to 5: `Forwarded: for=unknown` (or an obfuscated node) from a trusted peer is the key
// "unknown" while n2 is at level 4, and no ip key once level 5 commits (the next source decides).
// And from level 5 to 6: a `header:host` key spelled `h:80`, `h.` or `H.:80` is its own
// (lower-cased) key while n2 is at level 5, and the key `h` once level 6 commits. And from level 6
// to 7: on this plain listener `h:443` is its own key while n2 is at level 6 (level 6 dropped only
// the listener's default port), and the key `h` once level 7 commits, as a TLS instance reads it.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { configSchema, consulAgentSchema } from "../../config/file/schema.js";
import { SILENT_LOG } from "../../config/log-sink.js";
import {
  CURRENT_LEVEL,
  LEVEL_FORWARDED_NOTHING,
  LEVEL_HOST_KEY,
  LEVEL_HOST_KEY_PORTS,
  LEVEL_KEY_SPELLING,
} from "../../config/raft/core/index.js";
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

interface MixedFleet {
  sg: RunningShardgate;
  /** The member /admin/route names for `key` read from `source`. */
  owner(source: string, key: string): Promise<string>;
  level(): Promise<number>;
  /** Members that served `n` requests for `url`, each on its own connection (so both workers serve). */
  served(url: string, n: number, headers?: Record<string, string>): Promise<Set<string>>;
  /** Members that served `n` requests with Host `host` (node:http, each on its own connection). */
  servedHost(host: string, n: number): Promise<Set<string>>;
  /** Restarts n2 on its data directory at this build's level and waits for it to commit. */
  upgradePeer(): Promise<void>;
}

/**
 * A two-voter fleet: n1 a real shardgate process (`--workers 2`) routing on `key`
 * with 127.0.0.1 trusted, n2 an in-process ClusterNode advertising `peerLevel`; four members.
 */
async function startMixedFleet(peerLevel: number, key: string[], dataDir: string): Promise<MixedFleet> {
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
    key: [${key.join(", ")}]
    trustedProxies: [127.0.0.1/32]
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
    routes: [{ match: { pathPrefix: "/" }, pool: "users", key, trustedProxies: ["127.0.0.1/32"] }],
  });
  const startPeer = (level?: number) => {
    peer = new ClusterNode({
      settings: voterSettings({
        id: "n2",
        peers,
        dataDir: join(dataDir, "n2"),
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
  await startPeer(peerLevel);
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
  dataDir: ${JSON.stringify(join(dataDir, "n1"))}
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
  const level = async (): Promise<number> =>
    ((await fetchJson(`${s.adminUrl}/admin/state`)).body as { raft?: { clusterLevel?: number } }).raft
      ?.clusterLevel ?? 0;
  // The fleet starts at the peer's level once n1 commits it: until then /admin/state reads 0
  // (a test whose first check came quickly read 0, not 6, on a loaded machine).
  await eventually(`the fleet's level ${peerLevel} committed`, async () =>
    (await level()) === peerLevel ? true : undefined,
  );
  return {
    sg: s,
    level,
    async owner(source, key) {
      const r = await fetchJson(
        `${s.adminUrl}/admin/route?pool=users&source=${source}&key=${encodeURIComponent(key)}`,
      );
      assert.equal(r.status, 200, r.text);
      return (r.body as { owner: string }).owner;
    },
    async served(url, n, headers = {}) {
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        const r: Response = await fetch(`${s.httpUrl}${url}`, {
          headers: { connection: "close", ...headers },
        });
        await r.text();
        assert.equal(r.status, 200);
        seen.add(r.headers.get("x-shardgate-member") ?? "?");
      }
      return seen;
    },
    async servedHost(host, n) {
      const seen = new Set<string>();
      const url = new URL(s.httpUrl);
      for (let i = 0; i < n; i++) {
        const member = await new Promise<string>((resolve, reject) => {
          const req = httpRequest(
            { host: url.hostname, port: url.port, path: "/x", headers: { host }, agent: false },
            (res) => {
              res.resume();
              res.on("end", () =>
                res.statusCode === 200
                  ? resolve(String(res.headers["x-shardgate-member"] ?? "?"))
                  : reject(new Error(`Host ${host}: status ${res.statusCode}`)),
              );
            },
          );
          req.on("error", reject);
          req.end();
        });
        seen.add(member);
      }
      return seen;
    },
    async upgradePeer() {
      await peer?.stop();
      await startPeer();
      await eventually(
        `level ${CURRENT_LEVEL} committed`,
        async () => ((await level()) >= CURRENT_LEVEL ? true : undefined),
        60_000,
      );
    },
  };
}

test("a process reads path keys by the previous rules below level 4 and switches when it commits", {
  timeout: 180_000,
}, async () => {
  const f = await startMixedFleet(LEVEL_KEY_SPELLING - 1, ["path:2"], join(dir, "a"));
  const owner = (key: string) => f.owner("path:2", key);
  let k = "";
  for (let i = 0; i < 200 && k === ""; i++) {
    const t = `k${Math.floor(random() * 1e9).toString(36)}`;
    if ((await owner(`${t}%21b`)) !== (await owner(`${t}!b`))) k = t;
  }
  assert.notEqual(k, "", `a key whose spellings part (${seedNote(SEED)})`);
  const url = `/u/${k}%21b`;
  const oldOwner = await owner(`${k}%21b`);
  const newOwner = await owner(`${k}!b`);
  assert.ok((await f.level()) < LEVEL_KEY_SPELLING);
  assert.deepEqual([...(await f.served(url, 20))], [oldOwner], `below level 4 (${seedNote(SEED)})`);

  // n2 is upgraded: restarted on its data directory at this build's level.
  await f.upgradePeer();
  assert.deepEqual(
    [...(await f.served(url, 20))],
    [newOwner],
    `at level ${CURRENT_LEVEL} (${seedNote(SEED)})`,
  );
});

test('Forwarded: for=unknown is the key "unknown" at level 4 and no ip key from level 5 on (the next source decides)', {
  timeout: 180_000,
}, async () => {
  await sg?.proc.stop();
  await peer?.stop();
  const f = await startMixedFleet(LEVEL_FORWARDED_NOTHING - 1, ["ip", "header:x-user-id"], join(dir, "b"));
  // A user key whose member is not the one "unknown" names, so the two readings part.
  const unknownOwner = await f.owner("header:x-user-id", "unknown");
  let k = "";
  for (let i = 0; i < 200 && k === ""; i++) {
    const t = `u${Math.floor(random() * 1e9).toString(36)}`;
    if ((await f.owner("header:x-user-id", t)) !== unknownOwner) k = t;
  }
  assert.notEqual(k, "", `a user key apart from "unknown" (${seedNote(SEED)})`);
  const userOwner = await f.owner("header:x-user-id", k);
  assert.equal(await f.level(), LEVEL_FORWARDED_NOTHING - 1);
  // The admin answer reads the key as requests do at each level (level 4: the text).
  assert.equal(
    await f.owner("ip", "unknown"),
    unknownOwner,
    "level 4: /admin/route?source=ip hashes the text",
  );
  for (const fwd of ["for=unknown", 'for="_hidden:_p"']) {
    const expect = fwd === "for=unknown" ? unknownOwner : await f.owner("header:x-user-id", "_hidden");
    assert.deepEqual(
      [...(await f.served("/x", 10, { forwarded: fwd, "x-user-id": k }))],
      [expect],
      `level 4 reads ${fwd} as its text, as a level-4 build does (${seedNote(SEED)})`,
    );
  }
  await f.upgradePeer();
  // Level 5: no ip key, so /admin/route answers the missing key (the route's onMissingKey).
  const r = await fetchJson(`${f.sg.adminUrl}/admin/route?pool=users&source=ip&key=unknown`);
  assert.equal(r.status, 200, r.text);
  const a = r.body as { member: string | null; onMissingKey?: Array<{ policy: string }> };
  assert.equal(
    a.member,
    null,
    `level ${CURRENT_LEVEL}: /admin/route names no member for "unknown": ${r.text}`,
  );
  assert.deepEqual(
    a.onMissingKey?.map((m) => m.policy),
    ["random"],
    r.text,
  );
  for (const fwd of ["for=unknown", 'for="_hidden:_p"', "for=192.0.2.7, for=UNKNOWN"])
    assert.deepEqual(
      [...(await f.served("/x", 10, { forwarded: fwd, "x-user-id": k }))],
      [userOwner],
      `level ${CURRENT_LEVEL}: ${fwd} names no client, the user key decides (${seedNote(SEED)})`,
    );
});

test("a host key: h:80, h. and h are three keys at level 5 and one from level 6 on", {
  timeout: 180_000,
}, async () => {
  await sg?.proc.stop();
  await peer?.stop();
  const f = await startMixedFleet(LEVEL_HOST_KEY - 1, ["header:host"], join(dir, "c"));
  // The member a text hashes to as it is (a header key other than Host is read as given).
  const plain = (text: string) => f.owner("header:x-user-id", text);
  let h = "";
  for (let i = 0; i < 200 && h === ""; i++) {
    const t = `h${Math.floor(random() * 1e9).toString(36)}.test`;
    const o = await plain(t);
    if ((await plain(`${t}:80`)) !== o && (await plain(`${t}.`)) !== o) h = t;
  }
  assert.notEqual(h, "", `a host whose spellings part under level 5's reading (${seedNote(SEED)})`);
  const spellings = [h, `${h}:80`, `${h}.`, `${h.toUpperCase()}.:80`];
  assert.equal(await f.level(), LEVEL_HOST_KEY - 1);
  for (const spelling of spellings) {
    const old = await plain(spelling.toLowerCase());
    assert.equal(
      await f.owner("header:host", spelling),
      old,
      `level 5: /admin/route lower-cases ${spelling}`,
    );
    assert.deepEqual(
      [...(await f.servedHost(spelling, 6))],
      [old],
      `level 5 reads Host ${spelling} as its lower-cased text, as a level-5 build does (${seedNote(SEED)})`,
    );
  }
  await f.upgradePeer();
  const owner = await plain(h);
  for (const spelling of spellings) {
    assert.equal(
      await f.owner("header:host", spelling),
      owner,
      `level ${CURRENT_LEVEL}: /admin/route, ${spelling}`,
    );
    assert.deepEqual(
      [...(await f.servedHost(spelling, 6))],
      [owner],
      `level ${CURRENT_LEVEL}: Host ${spelling} is the key ${h} (${seedNote(SEED)})`,
    );
  }
  // Another port is another key.
  assert.deepEqual([...(await f.servedHost(`${h}:8080`, 4))], [await plain(`${h}:8080`)]);
});

test("a host key: h:443 on a plain listener is its own key at level 6 and h from level 7 on", {
  timeout: 180_000,
}, async () => {
  await sg?.proc.stop();
  await peer?.stop();
  const f = await startMixedFleet(LEVEL_HOST_KEY_PORTS - 1, ["header:host"], join(dir, "d"));
  const plain = (text: string) => f.owner("header:x-user-id", text);
  let h = "";
  for (let i = 0; i < 200 && h === ""; i++) {
    const t = `h${Math.floor(random() * 1e9).toString(36)}.test`;
    if ((await plain(`${t}:443`)) !== (await plain(t))) h = t;
  }
  assert.notEqual(h, "", `a host whose :443 spelling parts under level 6's reading (${seedNote(SEED)})`);
  const owner = await plain(h);
  const with443 = [`${h}:443`, `${h.toUpperCase()}.:0443`];
  assert.equal(await f.level(), LEVEL_HOST_KEY_PORTS - 1);
  // Level 6 on a plain listener: 443 is a port of the key, 80 is dropped.
  const old = await plain(`${h}:443`);
  for (const spelling of with443) {
    assert.equal(await f.owner("header:host", spelling), old, `level 6: /admin/route, ${spelling}`);
    assert.deepEqual(
      [...(await f.servedHost(spelling, 6))],
      [old],
      `level 6 reads Host ${spelling} as ${h}:443 on a plain listener, as a level-6 build does (${seedNote(SEED)})`,
    );
  }
  assert.deepEqual([...(await f.servedHost(`${h}:80`, 4))], [owner], "level 6: 80 is dropped");
  await f.upgradePeer();
  assert.ok((await f.level()) >= LEVEL_HOST_KEY_PORTS);
  for (const spelling of [...with443, `${h}:80`]) {
    assert.equal(
      await f.owner("header:host", spelling),
      owner,
      `level ${CURRENT_LEVEL}: /admin/route, ${spelling}`,
    );
    assert.deepEqual(
      [...(await f.servedHost(spelling, 6))],
      [owner],
      `level ${CURRENT_LEVEL}: Host ${spelling} is the key ${h} on every listener (${seedNote(SEED)})`,
    );
  }
  // Another port is another key.
  assert.deepEqual([...(await f.servedHost(`${h}:8443`, 4))], [await plain(`${h}:8443`)]);
});
