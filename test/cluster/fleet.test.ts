// Three real shardgate processes forming a Raft fleet (3 voters) in front of three echo
// upstreams: a drain made on a follower is committed once and visible on every instance at
// the same ring version with identical routing; a reload on one instance proposes its file's
// routing (SetRouting) to all, and the others report drift; forged or malformed traffic on
// the Raft port is rejected and counted, never crashing anyone; breaker overrides replicate.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { frames, TcpTransport } from "../../config/raft/transport/index.js";
import { freePorts } from "../support/ports.js";
import { seededRandom, testSeed } from "../support/prng.js";
import {
  eventually,
  fetchJson,
  metricValue,
  type RunningShardgate,
  startShardgate,
} from "../support/shardgate-process.js";
import { closeAll, type EchoUpstream, startUpstreams } from "../support/upstreams.js";

/** TEST_SEED replays or varies the keys drawn; a failing run prints it and the re-run command. */
const SEED = testSeed(0x0f1ee7);
const TOKEN = "fleet-admin-token";
const SECRET = "fleet-secret-0123456789abcdef";
const AUTH = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
/** a, b, c vote; d is a learner (listed in peers, not in voters). */
const IDS = ["a", "b", "c", "d"] as const;
const VOTERS = ["a", "b", "c"];

/** Speaks the transport handshake with a made-up proof, as a client without the secret would. */
async function forgedHandshake(port: number, to: string): Promise<void> {
  const sock = connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", () => resolve());
    sock.once("error", reject);
  });
  const closed = new Promise<void>((resolve) => sock.once("close", () => resolve()));
  sock.on("error", () => undefined);
  sock.write(frames.encodeHello("b", to, Buffer.alloc(frames.NONCE_BYTES, 7)));
  // Wait for the challenge, then answer it with a proof that cannot be right.
  await new Promise<void>((resolve) => sock.once("data", () => resolve()));
  sock.write(frames.encodeAuth(Buffer.alloc(frames.MAC_BYTES, 1)));
  const timer = setTimeout(() => sock.destroy(), 5_000);
  await closed;
  clearTimeout(timer);
}

interface State {
  ringVersion: number;
  pools: Record<
    string,
    {
      members: Array<{
        id: string;
        draining: boolean;
        breaker: string;
        breakerOverride: string;
        source: string;
      }>;
    }
  >;
  raft: {
    id: string;
    role: string;
    leader: string;
    voters: string[];
    learners: string[];
    appliedIndex: number;
  };
  configDrift: { drift: boolean; changedPools: string[] };
}

function fleetYaml(
  id: string,
  raftPorts: readonly number[],
  dataDir: string,
  members: readonly EchoUpstream[],
): string {
  const peers = IDS.map((p, i) => `    - { id: ${p}, address: "127.0.0.1:${raftPorts[i]}" }`).join("\n");
  const ms = members.map((m) => `      - { id: ${m.id}, address: "127.0.0.1:${m.port}" }`).join("\n");
  return `listen:
  http: 127.0.0.1:0
  admin: 127.0.0.1:0
admin:
  token: "${TOKEN}"
log:
  level: info
  accessLog: false
cluster:
  id: ${id}
  dataDir: ${JSON.stringify(dataDir)}
  secret: \${SHARDGATE_CLUSTER_SECRET}
  peers:
${peers}
  voters: [${VOTERS.join(", ")}]
  electionTimeout: 600ms
  heartbeat: 100ms
  faultInjection: true
  bootstrap: new
pools:
  users:
    algorithm: ring
    members:
${ms}
    breaker: { consecutiveFailures: 3, openFor: 6s, maxOpenFor: 6s, halfOpenProbes: 2 }
routes:
  - match: { pathPrefix: / }
    pool: users
    key: [header:x-user-id]
    onMissingKey: reject
`;
}

describe("fleet: three spawned instances agree through Raft", { timeout: 120_000 }, () => {
  let ups: EchoUpstream[] = [];
  const sg: RunningShardgate[] = [];
  let dir = "";
  let raftPorts: number[] = [];

  const state = async (i: number): Promise<State> =>
    (await fetchJson(`${sg[i].adminUrl}/admin/state`)).body as State;
  const allStates = () => Promise.all(sg.map((_, i) => state(i)));

  before(async () => {
    ups = await startUpstreams(3, "u");
    dir = mkdtempSync(join(tmpdir(), "sg-fleet-"));
    raftPorts = await freePorts(IDS.length);
    const started = await Promise.all(
      IDS.map((id) =>
        startShardgate(fleetYaml(id, raftPorts, join(dir, id), ups), {
          env: { SHARDGATE_CLUSTER_SECRET: SECRET },
          timeoutMs: 30_000,
        }),
      ),
    );
    sg.push(...started);
    // Every instance applied the seeded routing and knows the same leader.
    await eventually(
      "one leader known by all, same ring version",
      async () => {
        const s = await allStates();
        const leaders = new Set(s.map((x) => x.raft.leader));
        const versions = new Set(s.map((x) => x.ringVersion));
        const learnerIn = s.every((x) => x.raft.learners.includes("d"));
        return leaders.size === 1 && !leaders.has("") && versions.size === 1 && learnerIn ? s : undefined;
      },
      20_000,
    );
  });
  after(async () => {
    await Promise.all(sg.map((s) => s.stop()));
    await closeAll(ups);
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  async function follower(): Promise<number> {
    const s = await state(0);
    const i = IDS.findIndex((id) => id !== s.raft.leader && VOTERS.includes(id));
    assert.ok(i >= 0);
    return i;
  }

  async function sameEverywhere(what: string, pred: (s: State) => boolean): Promise<State[]> {
    return eventually(
      what,
      async () => {
        const s = await allStates();
        const versions = new Set(s.map((x) => x.ringVersion));
        return versions.size === 1 && s.every(pred) ? s : undefined;
      },
      30_000,
    );
  }

  test("raft section: 3 voters, one leader, the non-voter joined as a learner", async () => {
    const s = await allStates();
    for (const x of s) {
      assert.deepEqual([...x.raft.voters].sort(), ["a", "b", "c"]);
      assert.deepEqual(x.raft.learners, ["d"]);
    }
    assert.equal(s[3].raft.role, "learner");
    assert.equal(s.filter((x) => x.raft.role === "leader").length, 1);
    for (const x of s) for (const m of x.pools.users.members) assert.equal(m.source, "static");
  });

  test("a drain on the learner is committed once and routes identically on all instances", async () => {
    const f = await follower();
    const r = await fetchJson(`${sg[3].adminUrl}/admin/pools/users/members/u2/drain`, {
      method: "POST",
      headers: AUTH,
    });
    assert.equal(r.status, 200, r.text);
    const body = r.body as { pool: string; member: string; draining: boolean; ringVersion: number };
    assert.equal(body.draining, true);
    const s = await sameEverywhere("u2 drained on all", (x) =>
      x.pools.users.members.some((m) => m.id === "u2" && m.draining),
    );
    assert.ok(
      s[0].ringVersion >= body.ringVersion,
      `state ${s[0].ringVersion} vs answer ${body.ringVersion}`,
    );
    const rand = seededRandom(SEED);
    for (let k = 0; k < 40; k++) {
      const key = `k${Math.floor(rand() * 1e9)}`;
      const routes = await Promise.all(
        sg.map(async (x) => (await fetchJson(`${x.adminUrl}/admin/route?pool=users&key=${key}`)).body),
      );
      const members = routes.map((x) => (x as { member: string }).member);
      assert.equal(new Set(members).size, 1, `key ${key} routed differently (seed ${SEED}): ${members}`);
      assert.notEqual(members[0], "u2", `a drained member takes no key (seed ${SEED})`);
      const versions = routes.map((x) => (x as { ringVersion: number }).ringVersion);
      assert.equal(new Set(versions).size, 1, `ring versions differ: ${versions}`);
    }
    // Real traffic through every instance avoids u2 too.
    for (const x of sg) {
      const res = await fetchJson(`${x.httpUrl}/`, { headers: { "x-user-id": "k-traffic" } });
      assert.equal(res.status, 200, res.text);
      assert.notEqual((res.body as { member: string }).member, "u2");
    }
    const u = await fetchJson(`${sg[f].adminUrl}/admin/pools/users/members/u2/undrain`, {
      method: "POST",
      headers: AUTH,
    });
    assert.equal(u.status, 200, u.text);
    await sameEverywhere("u2 undrained on all", (x) =>
      x.pools.users.members.some((m) => m.id === "u2" && !m.draining),
    );
    const missing = await fetchJson(`${sg[f].adminUrl}/admin/pools/users/members/zz/drain`, {
      method: "POST",
      headers: AUTH,
    });
    assert.equal(missing.status, 404, missing.text);
    const unauth = await fetchJson(`${sg[f].adminUrl}/admin/pools/users/members/u2/drain`, {
      method: "POST",
    });
    assert.equal(unauth.status, 401, unauth.text);
  });

  test("breaker overrides from a follower replicate, pinned, and auto hands back", async () => {
    const f = await follower();
    const url = `${sg[f].adminUrl}/admin/pools/users/members/u3/breaker`;
    const bad = await fetchJson(url, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ state: "half" }),
    });
    assert.equal(bad.status, 400, bad.text);
    const open = await fetchJson(url, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ state: "open" }),
    });
    assert.equal(open.status, 200, open.text);
    assert.equal((open.body as { breaker: string }).breaker, "open");
    await sameEverywhere("u3 open on all", (x) =>
      x.pools.users.members.some(
        (m) => m.id === "u3" && m.breaker === "open" && m.breakerOverride === "open",
      ),
    );
    const route = (await fetchJson(`${sg[0].adminUrl}/admin/route?pool=users&key=anything`)).body as {
      member: string;
    };
    assert.notEqual(route.member, "u3");
    const auto = await fetchJson(url, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ state: "auto" }),
    });
    assert.equal(auto.status, 200, auto.text);
    await sameEverywhere("u3 closed/auto on all", (x) =>
      x.pools.users.members.some(
        (m) => m.id === "u3" && m.breaker === "closed" && m.breakerOverride === "auto",
      ),
    );
  });

  test("a member failing as seen through one instance opens its breaker on all; probes close it", async () => {
    const f = await follower();
    const rand = seededRandom(SEED + 1);
    let key: string | undefined;
    for (let k = 0; k < 300 && key === undefined; k++) {
      const cand = `b${Math.floor(rand() * 1e9)}`;
      const e = (await fetchJson(`${sg[f].adminUrl}/admin/route?pool=users&key=${cand}`)).body as {
        owner: string;
      };
      if (e.owner === "u3") key = cand;
    }
    assert.ok(key !== undefined, `no key owned by u3 among 300 (seed ${SEED + 1})`);
    ups[2].mode = { kind: "status", status: 503 };
    const t0 = performance.now();
    for (let i = 0; i < 4; i++) await fetchJson(`${sg[f].httpUrl}/`, { headers: { "x-user-id": key } });
    await sameEverywhere("u3 open on all", (x) =>
      x.pools.users.members.some(
        (m) => m.id === "u3" && m.breaker === "open" && m.breakerOverride === "auto",
      ),
    );
    const openMs = performance.now() - t0;
    // At once, while the breaker is open (openFor 6 s: a loaded machine took over 2 s to get
    // here and through the metrics below, and a half-open probe rightly went to u3).
    for (const x of sg) {
      const r = await fetchJson(`${x.httpUrl}/`, { headers: { "x-user-id": key } });
      assert.equal(r.status, 200, r.text);
      assert.notEqual((r.body as { member: string }).member, "u3", "an open breaker protects every instance");
    }
    // The failures reached the leader as outcome batches from the follower that saw them.
    const fs = (await fetchJson(`${sg[f].adminUrl}/admin/state`)).body as State;
    const leaderAt = IDS.indexOf(fs.raft.leader as (typeof IDS)[number]);
    assert.ok(leaderAt >= 0 && leaderAt !== f, `leader ${fs.raft.leader}, follower ${IDS[f]}`);
    const fm = await (await fetch(`${sg[f].adminUrl}/metrics`)).text();
    const lm = await (await fetch(`${sg[leaderAt].adminUrl}/metrics`)).text();
    const batches = (m: string, result: string) =>
      metricValue(m, "shardgate_cluster_outcome_batches_total", { result }) ?? 0;
    assert.ok(batches(fm, "sent") > 0, `follower sent no outcome batch:\n${fm}`);
    assert.ok(batches(lm, "received") > 0, "leader received no outcome batch");
    console.log(
      `# breaker: first failure through ${IDS[f]} -> open on all ${IDS.length}: ${openMs.toFixed(0)} ms`,
    );
    ups[2].mode = { kind: "echo" };
    await sameEverywhere("u3 half-open on all", (x) =>
      x.pools.users.members.some((m) => m.id === "u3" && m.breaker === "half-open"),
    );
    // Probes through one instance succeed and close it. halfOpenProbes bounds the probes in
    // flight; each gives its slot back at its response, so sequential requests all probe u3
    // until the close is committed.
    const served: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await fetchJson(`${sg[f].httpUrl}/`, { headers: { "x-user-id": key } });
      served.push((r.body as { member: string }).member);
    }
    assert.deepEqual(served.slice(0, 2), ["u3", "u3"], `probes admitted: ${served}`);
    await sameEverywhere("u3 closed on all", (x) =>
      x.pools.users.members.some((m) => m.id === "u3" && m.breaker === "closed"),
    );
  });

  test("forged and malformed Raft-port traffic is rejected and counted; nobody crashes", async () => {
    const s = await state(0);
    const leader = IDS.indexOf(s.raft.leader as (typeof IDS)[number]);
    const target = IDS[leader];
    const metrics = async () => (await fetch(`${sg[leader].adminUrl}/metrics`)).text();
    const before = await metrics();
    const badMac0 =
      metricValue(before, "shardgate_raft_transport_rejected_frames_total", { reason: "bad_mac" }) ?? 0;
    const appRej0 = metricValue(before, "shardgate_cluster_app_messages_rejected_total", {}) ?? 0;
    const transports: TcpTransport[] = [];
    let last = "";
    try {
      // A client that does not know the secret: its handshake proof is refused (bad_mac).
      await forgedHandshake(raftPorts[leader], target);
      // Right secret, malformed application payloads: decoded strictly and rejected.
      const insider = new TcpTransport({
        id: "z",
        secret: SECRET,
        peers: { [target]: `127.0.0.1:${raftPorts[leader]}` },
        onMessage: () => undefined,
      });
      transports.push(insider);
      await insider.start();
      const bad = [
        "SA\x01not json",
        'SA\x01{"v":1,"kind":"outcomes","entries":[{"pool":"users","member":"u1","success":-1}]}',
        'SA\x01{"v":9,"kind":"outcomes","entries":[]}',
        'SA\x01{"v":1,"kind":"join","id":"a","address":"127.0.0.1:1"}',
      ];
      for (const b of bad) insider.send(target, Buffer.from(b, "latin1"));
      await eventually(
        "rejections counted",
        async () => {
          const m = await metrics();
          const badMac =
            metricValue(m, "shardgate_raft_transport_rejected_frames_total", { reason: "bad_mac" }) ?? 0;
          const appRej = metricValue(m, "shardgate_cluster_app_messages_rejected_total", {}) ?? 0;
          last = `bad_mac ${badMac0} -> ${badMac}, app rejects ${appRej0} -> ${appRej}`;
          return badMac > badMac0 && appRej >= appRej0 + bad.length ? true : undefined;
        },
        10_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}: ${last}`);
      });
    } finally {
      await Promise.all(transports.map((t) => t.stop()));
    }
    for (const x of sg) assert.equal((await fetchJson(`${x.adminUrl}/healthz`)).status, 200);
    const after = await allStates();
    assert.deepEqual(
      after.map((x) => x.raft.voters.length),
      [3, 3, 3, 3],
      "a forged join added nobody",
    );
    assert.ok(after.every((x) => x.raft.learners.join() === "d"));
  });

  test("reload on one instance proposes SetRouting to all; the others report drift", async () => {
    const f = await follower();
    const v0 = (await state(f)).ringVersion;
    const two = ups.slice(0, 2);
    sg[f].config.write(fleetYaml(IDS[f], raftPorts, join(dir, IDS[f]), two));
    const r = await fetchJson(`${sg[f].adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
    assert.equal(r.status, 200, r.text);
    const body = r.body as { reloaded: boolean; ringVersion: number };
    assert.ok(body.ringVersion > v0, `ring version moved: ${v0} -> ${body.ringVersion}`);
    const s = await sameEverywhere("u3 gone everywhere", (x) => x.pools.users.members.length === 2);
    for (let i = 0; i < IDS.length; i++) {
      assert.equal(s[i].configDrift.drift, i !== f, `instance ${IDS[i]} drift`);
      if (i !== f) assert.deepEqual(s[i].configDrift.changedPools, ["users"]);
      const m = await (await fetch(`${sg[i].adminUrl}/metrics`)).text();
      assert.equal(metricValue(m, "shardgate_config_drift", {}), i === f ? 0 : 1, `metric on ${IDS[i]}`);
    }
    // An invalid file is refused locally and proposes nothing.
    sg[f].config.write("pools: {}\nroutes: []\n");
    const bad = await fetchJson(`${sg[f].adminUrl}/admin/reload`, { method: "POST", headers: AUTH });
    assert.equal(bad.status, 400, bad.text);
    assert.equal((await state(f)).ringVersion, s[f].ringVersion);
  });

  test("fault injection: a cut instance keeps serving (ready, degraded) and catches up after heal", async () => {
    const f = await follower();
    for (const path of ["/admin/debug/cut", "/admin/debug/heal", "/admin/pools/users/members/u1/breaker"]) {
      const wrong = await fetchJson(`${sg[f].adminUrl}${path}`, {
        method: "POST",
        headers: { authorization: "Bearer not-the-token" },
        body: JSON.stringify({ state: "open" }),
      });
      assert.equal(wrong.status, 401, `${path}: ${wrong.text}`);
    }
    const nobody = await fetchJson(`${sg[f].adminUrl}/admin/debug/cut`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ peer: "nobody" }),
    });
    assert.equal(nobody.status, 404, nobody.text);
    assert.equal((nobody.body as { error: string }).error, "unknown_peer");
    const cut = await fetchJson(`${sg[f].adminUrl}/admin/debug/cut`, { method: "POST", headers: AUTH });
    assert.equal(cut.status, 200, cut.text);
    assert.equal((cut.body as { cut: string[] }).cut.length, IDS.length - 1);
    const ready = await eventually(
      "degraded readyz",
      async () => {
        const r = await fetchJson(`${sg[f].adminUrl}/readyz`);
        return (r.body as { degraded?: boolean }).degraded === true ? r : undefined;
      },
      10_000,
    );
    assert.equal(ready.status, 200, "ready but degraded keeps it in the Service");
    const served = await fetchJson(`${sg[f].httpUrl}/`, { headers: { "x-user-id": "while-cut" } });
    assert.equal(served.status, 200, "static stability: routing on the last applied state");
    // Meanwhile the majority commits a drain the cut instance cannot see.
    const other = VOTERS.indexOf(VOTERS.find((v) => v !== IDS[f]) as string);
    const d = await fetchJson(`${sg[other].adminUrl}/admin/pools/users/members/u1/drain`, {
      method: "POST",
      headers: AUTH,
    });
    assert.equal(d.status, 200, d.text);
    const heal = await fetchJson(`${sg[f].adminUrl}/admin/debug/heal`, { method: "POST", headers: AUTH });
    assert.equal(heal.status, 200, heal.text);
    assert.deepEqual((heal.body as { cut: string[] }).cut, []);
    await sameEverywhere("the healed instance caught up", (x) =>
      x.pools.users.members.some((m) => m.id === "u1" && m.draining),
    );
    await eventually(
      "not degraded after heal",
      async () =>
        ((await fetchJson(`${sg[f].adminUrl}/readyz`)).body as { degraded?: boolean }).degraded === undefined
          ? true
          : undefined,
      10_000,
    );
  });
});

describe("single instance: a config without cluster runs a one-member cluster", () => {
  let ups: EchoUpstream[] = [];
  let sg: RunningShardgate | undefined;
  before(async () => {
    ups = await startUpstreams(2, "s");
  });
  after(async () => {
    await sg?.stop();
    await closeAll(ups);
  });

  test("it leads itself, routes on the seeded state, reports no drift; fault injection is off", async () => {
    const ms = ups.map((u) => `      - { id: ${u.id}, address: "127.0.0.1:${u.port}" }`).join("\n");
    sg = await startShardgate(`listen: { http: "127.0.0.1:0", admin: "127.0.0.1:0" }
admin: { token: "${TOKEN}" }
pools:
  p:
    members:
${ms}
routes:
  - { pool: p, key: [header:x-k] }
`);
    const line = sg.proc.lines.find((l) => l.msg === "listening");
    assert.equal(line?.dataDir, "(temporary)");
    const s = (await fetchJson(`${sg.adminUrl}/admin/state`)).body as State;
    assert.equal(s.raft.role, "leader");
    assert.deepEqual(s.raft.voters, ["local"]);
    assert.equal(s.configDrift.drift, false);
    assert.ok(s.ringVersion > 0);
    const r = await fetchJson(`${sg.httpUrl}/`, { headers: { "x-k": "1" } });
    assert.equal(r.status, 200, r.text);
    const cut = await fetchJson(`${sg.adminUrl}/admin/debug/cut`, { method: "POST", headers: AUTH });
    assert.equal(cut.status, 403, cut.text);
    const m = await (await fetch(`${sg.adminUrl}/metrics`)).text();
    assert.equal(metricValue(m, "shardgate_raft_is_leader", {}), 1);
    assert.equal(metricValue(m, "shardgate_config_drift", {}), 0);
  });
});
