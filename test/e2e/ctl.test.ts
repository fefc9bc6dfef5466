// `shardgate ctl` against a real fleet (3 voter + 1 learner shardgate processes, 4 upstreams,
// the Consul double): read commands show what the admin API says, every mutating command
// changes what every instance reports, and failures say clearly what went wrong: unreachable
// instance, missing or wrong token, refused with the API's coded reason.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CURRENT_LEVEL } from "../../config/raft/core/index.js";
import { allHealthy, closeFleet, type Fleet, member, startFleet } from "../support/cluster/fleet-fixture.js";
import type { FleetNode } from "../support/cluster-launcher.js";
import { type CtlRun, runCtl } from "../support/ctl-runner.js";
import { freePorts } from "../support/ports.js";
import { testSeed } from "../support/prng.js";
import { CONDITION_DEADLINE_MS, eventually, scaled } from "../support/wait.js";

const SEED = testSeed(1401);

/** The operator override of a member's breaker as an instance reports it. */
function override(s: Parameters<typeof member>[0], id: string): string | undefined {
  return (member(s, "users", id) as { breakerOverride?: string } | undefined)?.breakerOverride;
}

describe("shardgate ctl against a real fleet", () => {
  let fleet: Fleet;
  let token: Record<string, string>;
  let dir: string;

  const ctl = (node: FleetNode, args: string[], env = token) =>
    runCtl(["--admin", node.adminUrl, ...args], env);
  const ok = (r: CtlRun, what: string) =>
    assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr} (seed=${SEED})`);
  const leaderNode = async () => {
    const c = await fleet.cluster.waitConverged({ timeoutMs: 30_000 });
    return {
      leader: fleet.cluster.node(c.leader),
      follower: fleet.cluster.nodes.find((n) => n.id !== c.leader && n.voter) as FleetNode,
    };
  };

  /**
   * `ctl ARGS` on the leader; when leadership moved between finding the leader and the call (a
   * loaded machine can miss heartbeats), the refusal names not_leader and the call is made again
   * on the new leader, at most 3 times.
   */
  const onLeader = async (args: string[]): Promise<{ r: CtlRun; leader: FleetNode }> => {
    for (let attempt = 1; ; attempt++) {
      const { leader } = await leaderNode();
      const r = await ctl(leader, args);
      if (attempt < 3 && r.code === 1 && /refused \(not_leader\)/.test(r.stderr)) continue;
      return { r, leader };
    }
  };

  before(async () => {
    fleet = await startFleet({ seed: SEED });
    token = { SHARDGATE_ADMIN_TOKEN: fleet.cluster.adminToken };
    dir = mkdtempSync(join(tmpdir(), "sg-ctl-"));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await closeFleet(fleet);
  });

  test("status shows each instance's feature level and the committed cluster level", async () => {
    const { leader } = await leaderNode();
    // Committed once the leader heard all four members at this build's level.
    for (const n of fleet.cluster.nodes) {
      const deadline = Date.now() + scaled(CONDITION_DEADLINE_MS);
      for (;;) {
        const m = await (await fetch(`${n.adminUrl}/metrics`)).text();
        if (new RegExp(`^shardgate_cluster_level ${CURRENT_LEVEL}$`, "m").test(m)) break;
        assert.ok(
          Date.now() < deadline,
          `${n.id}: no cluster level ${CURRENT_LEVEL} committed:\n${m.match(/^shardgate_cluster_level.*$/m)}`,
        );
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const admins = fleet.cluster.nodes.map((n) => n.adminUrl).join(",");
    const r = await runCtl(["--admin", admins, "status"]);
    ok(r, "status");
    for (const n of fleet.cluster.nodes)
      assert.match(
        r.stdout,
        new RegExp(`^${n.id}\\s.*\\s${CURRENT_LEVEL}/${CURRENT_LEVEL}\\s`, "m"),
        `own/cluster level: ${r.stdout}`,
      );
    assert.match(r.stdout, new RegExp(`cluster level ${CURRENT_LEVEL}\\):`), r.stdout);
    for (const n of fleet.cluster.nodes)
      assert.match(
        r.stdout,
        new RegExp(`^${n.id}( \\*)?\\s.*\\s${CURRENT_LEVEL}$`, "m"),
        `each member's level: ${r.stdout}`,
      );
    const state = (await (await fetch(`${leader.adminUrl}/admin/state`)).json()) as {
      raft: { level: number; clusterLevel: number; memberLevels?: Record<string, number | null> };
    };
    assert.equal(state.raft.clusterLevel, CURRENT_LEVEL);
    assert.deepEqual(
      state.raft.memberLevels,
      Object.fromEntries(fleet.cluster.nodes.map((n) => [n.id, CURRENT_LEVEL])),
      "the leader shows what every member advertised",
    );
  });

  test("/admin/state and status show the one cluster id every instance keeps in identity.json", async () => {
    // Fixed by the entry that takes the fleet to level 2; every member adopts it once it applies it.
    const ids = await eventually(
      "every instance shows a cluster id in /admin/state",
      async () => {
        const got = await Promise.all(
          fleet.cluster.nodes.map(async (n) => {
            const s = (await (await fetch(`${n.adminUrl}/admin/state`)).json()) as {
              raft?: { clusterId?: string | null };
            };
            return s.raft?.clusterId;
          }),
        );
        return got.every((id) => typeof id === "string") ? (got as string[]) : undefined;
      },
      CONDITION_DEADLINE_MS,
      100,
    );
    assert.match(ids[0], /^[0-9a-f]{16}$/, `a cluster id is 16 hex digits (seed=${SEED})`);
    assert.deepEqual(
      ids,
      fleet.cluster.nodes.map(() => ids[0]),
      "one id across the fleet",
    );
    for (const n of fleet.cluster.nodes) {
      const kept = JSON.parse(readFileSync(join(n.spec.dataDir, "identity.json"), "utf8")) as {
        cluster?: string;
      };
      assert.equal(kept.cluster, ids[0], `${n.id}: the id its data directory keeps`);
    }
    const admins = fleet.cluster.nodes.map((n) => n.adminUrl).join(",");
    const r = await runCtl(["--admin", admins, "status"]);
    ok(r, "status");
    assert.match(r.stdout, /^INSTANCE\s.*\sLEVEL\s+CLUSTER\s+DEGRADED\s/m, r.stdout);
    for (const n of fleet.cluster.nodes)
      assert.match(r.stdout, new RegExp(`^${n.id}\\s.*\\s\\d+/\\d+\\s+${ids[0]}\\s`, "m"), r.stdout);
    const j = await runCtl(["--admin", admins, "--json", "status"]);
    ok(j, "status --json");
    const views = JSON.parse(j.stdout) as Array<{ state: { raft: { clusterId: string } } }>;
    assert.deepEqual(
      views.map((v) => v.state.raft.clusterId),
      ids,
    );
  });

  test("status shows every instance with one leader; --json is the same data", async () => {
    const { leader } = await leaderNode();
    const admins = fleet.cluster.nodes.map((n) => n.adminUrl).join(",");
    const r = await runCtl(["--admin", admins, "status"]);
    ok(r, "status");
    for (const n of fleet.cluster.nodes)
      assert.match(
        r.stdout,
        new RegExp(`^${n.id}\\s+(leader|follower|learner)\\s+\\d+\\s+${leader.id}\\s`, "m"),
        r.stdout,
      );
    assert.match(r.stdout, /^users\s+ring\s+\d+\s+4\s+4\s+0\s+0\s+no$/m, r.stdout);
    const j = await runCtl(["--admin", admins, "--json", "status"]);
    ok(j, "status --json");
    const metrics = await (await fetch(`${leader.adminUrl}/metrics`)).text();
    for (const n of fleet.cluster.nodes.filter((x) => x !== leader))
      assert.match(
        metrics,
        new RegExp(
          `^shardgate_raft_peer_lag_entries\\{peer="${n.id}",role="${n.voter ? "voter" : "learner"}"\\} \\d+$`,
          "m",
        ),
        "the leader exports each peer's lag",
      );
    const views = JSON.parse(j.stdout) as Array<{ state: { raft: { leader: string } } }>;
    assert.deepEqual(
      views.map((v) => v.state.raft.leader),
      fleet.cluster.nodes.map(() => leader.id),
    );
  });

  test("members, route and peers list read the admin API", async () => {
    const n = fleet.cluster.nodes[3];
    // Four reads, none changing anything: one ctl process each, all at once (each costs a Node
    // start, which a loaded machine stretches to seconds).
    const [m, route, human, peers, view] = await Promise.all([
      ctl(n, ["members", "users"]),
      ctl(n, ["--json", "route", "users", "alice"]),
      ctl(n, ["route", "users", "alice"]),
      ctl(n, ["peers", "list"]),
      fleet.cluster.routeOf(fleet.cluster.nodes[0], "users", "alice"),
    ]);
    ok(m, "members");
    for (const id of fleet.ups.ids)
      assert.match(
        m.stdout,
        new RegExp(`^${id}\\s+127\\.0\\.0\\.1:\\d+\\s+yes\\s+no\\s+closed\\s+auto\\s+consul`, "m"),
      );
    ok(route, "route");
    assert.equal((JSON.parse(route.stdout) as { member: string }).member, view.member);
    assert.match(human.stdout, new RegExp(`^member\\s+${view.member}$`, "m"));
    ok(peers, "peers list");
    assert.match(peers.stdout, /^d\s+learner\s/m, peers.stdout);
    for (const id of ["a", "b", "c"]) assert.match(peers.stdout, new RegExp(`^${id}\\s+voter\\s`, "m"));
    // The leader's view names how it sends to each peer: all four are up, so each is replicated to.
    await eventually(
      "the leader's peers view: every other member in replicate state",
      async () => {
        for (const node of fleet.cluster.nodes) {
          const r = await fetch(`${node.adminUrl}/admin/cluster/peers`);
          const v = (await r.json()) as {
            role: string;
            peers: Array<{ id: string; self: boolean; state?: string }>;
          };
          if (v.role !== "leader") continue;
          const others = v.peers.filter((p) => !p.self);
          return others.length === 3 && others.every((p) => p.state === "replicate") ? true : undefined;
        }
        return undefined;
      },
      CONDITION_DEADLINE_MS,
    );
  });

  test("errors: unreachable, no token, wrong token, refused with the coded reason, usage", async () => {
    const [closed] = await freePorts(1);
    const n = fleet.cluster.nodes[1];
    // Every call below is refused and changes nothing: one ctl process each, all at once.
    const [down, partial, none, wrong, unknown, usage, notLearner] = await Promise.all([
      runCtl(["--admin", `http://127.0.0.1:${closed}`, "status"]),
      // With other instances given, the reachable ones are still shown; exit 1 says one was not.
      runCtl(["--admin", `${fleet.cluster.nodes[0].adminUrl},http://127.0.0.1:${closed}`, "status"]),
      ctl(n, ["drain", "users", fleet.ups.ids[0]], {}),
      ctl(n, ["drain", "users", fleet.ups.ids[0]], { SHARDGATE_ADMIN_TOKEN: "not-the-token" }),
      ctl(n, ["drain", "users", "nosuch"]),
      ctl(n, ["breaker", "users", fleet.ups.ids[0], "sideways"]),
      ctl(n, ["peers", "promote", "a"]),
    ]);
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      new RegExp(`cannot reach the admin API at http://127\\.0\\.0\\.1:${closed}: ECONNREFUSED`),
    );
    assert.equal(partial.code, 1, partial.stdout + partial.stderr);
    assert.match(partial.stdout, /^a\s+(leader|follower)\s/m);
    assert.match(
      partial.stdout,
      new RegExp(`^unreachable: cannot reach the admin API at http://127\\.0\\.0\\.1:${closed}`, "m"),
    );
    assert.equal(none.code, 1);
    assert.match(none.stderr, /needs the admin token: set SHARDGATE_ADMIN_TOKEN/);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /admin token was refused \(unauthorized\)/);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /refused \(unknown_member\): pool "users" has no member "nosuch"/);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /breaker mode must be open, close or auto/);
    assert.equal(notLearner.code, 1);
    assert.match(notLearner.stderr, /refused \(not_learner\)/);
    // Nothing changed on any instance.
    const states = await fleet.cluster.states();
    for (const [id, s] of states) assert.ok(allHealthy(s, "users", fleet.ups.ids), `${id} unchanged`);
  });

  test("drain / undrain through a follower reach every instance", async () => {
    const { follower } = await leaderNode();
    const victim = fleet.ups.ids[1];
    const r = await ctl(follower, ["drain", "users", victim]);
    ok(r, "drain");
    assert.match(r.stdout, new RegExp(`users/${victim}: draining \\(committed, ring version \\d+\\)`));
    await fleet.cluster.waitAll(`${victim} drained`, (s) => member(s, "users", victim)?.draining === true);
    ok(await ctl(follower, ["undrain", "users", victim]), "undrain");
    await fleet.cluster.waitAll(`${victim} undrained`, (s) => member(s, "users", victim)?.draining === false);
  });

  test("breaker open | auto through the learner reach every instance", async () => {
    const learner = fleet.cluster.node("d");
    const victim = fleet.ups.ids[2];
    const r = await ctl(learner, ["breaker", "users", victim, "open"]);
    ok(r, "breaker open");
    assert.match(r.stdout, /breaker open \(override open/);
    await fleet.cluster.waitBreaker("users", victim, "open");
    ok(await ctl(learner, ["breaker", "users", victim, "close"]), "breaker close");
    await fleet.cluster.waitAll("override closed", (s) => override(s, victim) === "closed");
    ok(await ctl(learner, ["breaker", "users", victim, "auto"]), "breaker auto");
    await fleet.cluster.waitAll(
      "override auto, closed",
      (s) => override(s, victim) === "auto" && member(s, "users", victim)?.breaker === "closed",
    );
  });

  test("reload and snapshot save", async () => {
    const n = fleet.cluster.nodes[2];
    const r = await ctl(n, ["reload"]);
    ok(r, "reload");
    assert.match(r.stdout, /^reloaded \(ring version \d+\)/);
    const file = join(dir, "snap.json");
    const s = await ctl(n, ["snapshot", "save", file]);
    ok(s, "snapshot save");
    const saved = JSON.parse(readFileSync(file, "utf8")) as {
      format: string;
      node: string;
      state: {
        format: string;
        appliedIndex: number;
        pools: Record<string, { members: Array<{ id: string }> }>;
      };
    };
    assert.equal(saved.format, "shardgate.cluster-snapshot");
    assert.equal(saved.node, n.id);
    assert.equal(saved.state.format, "shardgate.cluster-state");
    assert.deepEqual(saved.state.pools.users.members.map((m) => m.id).sort(), [...fleet.ups.ids].sort());
    assert.match(s.stdout, new RegExp(`applied index ${saved.state.appliedIndex}`));
  });

  test("peers add-learner / remove on the leader; a non-leader refuses with not_leader naming it", async () => {
    const { leader: before } = await leaderNode();
    const [port] = await freePorts(1);
    // The learner: it never leads, so it refuses even if leadership moves meanwhile.
    const refused = await ctl(fleet.cluster.node("d"), ["peers", "add-learner", "x", `127.0.0.1:${port}`]);
    const { leader: after } = await leaderNode();
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    const named = /refused \(not_leader\).*\[leader: (\w+)\]/.exec(refused.stderr)?.[1];
    assert.ok(
      named === before.id || named === after.id,
      `names the leader (${before.id}, or ${after.id} after): ${refused.stderr}`,
    );
    const { r: add } = await onLeader(["peers", "add-learner", "x", `127.0.0.1:${port}`]);
    ok(add, "add-learner");
    assert.match(add.stdout, /add-learner x: committed at index \d+; voters a, b, c; learners d, x/);
    await fleet.cluster.waitAll("x is a learner", (s) => s.raft.learners.includes("x"));
    const { r: rm } = await onLeader(["peers", "remove", "x"]);
    ok(rm, "remove");
    await fleet.cluster.waitAll(
      "x removed",
      (s) => !s.raft.learners.includes("x") && !s.raft.voters.includes("x"),
    );
  });

  test("peers promote makes the learner a voter; leader transfer moves leadership", async () => {
    const { r: promoted, leader } = await onLeader(["peers", "promote", "d"]);
    ok(promoted, "promote");
    await fleet.cluster.waitAll(
      "d is a voter",
      (s) => s.raft.voters.includes("d") && !s.raft.learners.includes("d"),
    );
    const target = fleet.cluster.nodes.find((n) => n.id !== leader.id && n.id !== "d") as FleetNode;
    const t = await ctl(fleet.cluster.node("d"), ["leader", "transfer", target.id]);
    ok(t, "leader transfer");
    assert.match(t.stdout, new RegExp(`leader is now ${target.id}`));
    const c = await fleet.cluster.waitConverged({ timeoutMs: 30_000 });
    assert.equal(c.leader, target.id);
    const bad = await ctl(target, ["leader", "transfer", "x"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /refused \(not_voter\)/);
  });

  test("a drain through an instance cut off from its peers is refused with a code and counted", async () => {
    const { leader } = await leaderNode();
    const cut = fleet.cluster.nodes.find((n) => n.id !== leader.id && n.voter) as FleetNode;
    const refusedBefore = async () =>
      [
        ...(await (await fetch(`${cut.adminUrl}/metrics`)).text()).matchAll(
          /^shardgate_raft_proposals_refused_total\{reason="[^"]+"\} (\d+)$/gm,
        ),
      ]
        .map((m) => Number(m[1]))
        .reduce((x, y) => x + y, 0);
    const before = await refusedBefore();
    await fleet.cluster.isolate(cut);
    try {
      const r = await ctl(cut, ["drain", "users", fleet.ups.ids[0]]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      // Refused at once when its link to the leader is already down (nothing was proposed,
      // NOT_SENT), else once no leader answers: both are not_committed, with the reason.
      assert.match(
        r.stderr,
        /refused \(not_committed\): (the change could not be committed|not sent to the leader \S+: no connection; nothing was proposed)/,
      );
      assert.ok((await refusedBefore()) > before, "the refused proposal is counted");
    } finally {
      await fleet.cluster.rejoin(cut);
    }
    await fleet.cluster.waitConverged({ timeoutMs: 30_000 });
    const states = await fleet.cluster.states();
    for (const [id, s] of states)
      assert.equal(member(s, "users", fleet.ups.ids[0])?.draining, false, `${id}: not drained`);
  });
});
